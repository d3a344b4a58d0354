import Foundation

/// One page of the JSON API's `objects.list`: the objects' names, sizes, creation times and custom metadata (so a
/// listing gives each file's `litestream-timestamp` without a request per object), and the next page's token.
struct GCSObjectList: Decodable {
    struct Item: Decodable {
        var name: String
        var size: Int64
        var timeCreated: String?
        var metadata: [String: String]?

        enum CodingKeys: String, CodingKey { case name, size, timeCreated, metadata }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            // The JSON API sends sizes as strings (64-bit integers); accept a number too.
            if let s = try? c.decode(String.self, forKey: .size), let v = Int64(s) {
                size = v
            } else {
                size = (try? c.decode(Int64.self, forKey: .size)) ?? 0
            }
            timeCreated = try? c.decode(String.self, forKey: .timeCreated)
            metadata = try? c.decode([String: String].self, forKey: .metadata)
        }
    }

    var items: [Item]
    var nextPageToken: String?

    enum CodingKeys: String, CodingKey { case items, nextPageToken }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        items = try c.decodeIfPresent([Item].self, forKey: .items) ?? []
        nextPageToken = try c.decodeIfPresent(String.self, forKey: .nextPageToken).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A JSON value as a 64-bit integer: the JSON API's string form (`"123"`) or a number.
    static func integer(_ value: Any) -> Int64? {
        if let s = value as? String { return Int64(s) }
        if let i = value as? Int { return Int64(i) }
        if let n = value as? NSNumber { return n.int64Value }
        return nil
    }

    /// Parses a response body; nil when it is not an object list.
    static func parse(_ data: Data) -> GCSObjectList? { try? JSONDecoder().decode(GCSObjectList.self, from: data) }
}
