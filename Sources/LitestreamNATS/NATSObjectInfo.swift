import Foundation

/// An object's meta record, the JSON nats.go's object store keeps on `$O.<bucket>.M.<base64url(name)>` (one per
/// name: each is published with `Nats-Rollup: sub`, which drops the ones before it).
///
/// ``json`` writes it as Go's `json.Marshal` writes nats.go's `ObjectInfo`: the same fields in the same order,
/// empty ones left out as `omitempty` does, map keys sorted, `<`, `>` and `&` escaped, and `mtime` the zero time
/// (nats.go never stores a time: a reader takes it from the message's timestamp).
struct NATSObjectInfo: Sendable, Decodable, Equatable {
    var name: String
    var description: String?
    var headers: [String: [String]]?
    var metadata: [String: String]?
    var options: Options?
    var bucket: String
    var nuid: String
    var size: UInt64
    var chunks: UInt32
    var digest: String?
    var deleted: Bool?

    struct Options: Sendable, Decodable, Equatable {
        var maxChunkSize: UInt32?
        var link: Link?
        enum CodingKeys: String, CodingKey { case maxChunkSize = "max_chunk_size", link }
    }

    struct Link: Sendable, Decodable, Equatable {
        var bucket: String
        var name: String?
    }

    enum CodingKeys: String, CodingKey {
        case name, description, headers, metadata, options, bucket, nuid, size, chunks, digest, deleted
    }

    var isDeleted: Bool { deleted == true }

    /// The first value of a header, the name compared without case (Go's `nats.Header.Get` canonicalises).
    func header(_ key: String) -> String? {
        headers?.first { $0.key.caseInsensitiveCompare(key) == .orderedSame }?.value.first
    }

    /// The JSON nats.go would write for this record.
    var json: String {
        var out = "{\"name\":" + Self.quote(name)
        if let description, !description.isEmpty { out += ",\"description\":" + Self.quote(description) }
        if let headers, !headers.isEmpty {
            out += ",\"headers\":{" + headers.keys.sorted().map { key in
                Self.quote(key) + ":" + (headers[key].map { "[" + $0.map(Self.quote).joined(separator: ",") + "]" } ?? "null")
            }.joined(separator: ",") + "}"
        }
        if let metadata, !metadata.isEmpty {
            out += ",\"metadata\":{" + metadata.keys.sorted().map { Self.quote($0) + ":" + Self.quote(metadata[$0]!) }
                .joined(separator: ",") + "}"
        }
        if let options {
            var parts: [String] = []
            if let link = options.link {
                var l = "{\"bucket\":" + Self.quote(link.bucket)
                if let n = link.name, !n.isEmpty { l += ",\"name\":" + Self.quote(n) }
                parts.append("\"link\":" + l + "}")
            }
            if let size = options.maxChunkSize, size != 0 { parts.append("\"max_chunk_size\":\(size)") }
            out += ",\"options\":{" + parts.joined(separator: ",") + "}"
        }
        out += ",\"bucket\":" + Self.quote(bucket) + ",\"nuid\":" + Self.quote(nuid)
        out += ",\"size\":\(size),\"mtime\":\"0001-01-01T00:00:00Z\",\"chunks\":\(chunks)"
        if let digest, !digest.isEmpty { out += ",\"digest\":" + Self.quote(digest) }
        if deleted == true { out += ",\"deleted\":true" }
        return out + "}"
    }

    /// A JSON string as Go's encoder writes it (HTML-safe: `<`, `>`, `&`, U+2028 and U+2029 escaped).
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                out += String(format: "\\u%04x", u.value)
            default:
                if u.value < 0x20 {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

/// nats.go's object ids (NUIDs): 22 characters of base 62, random.
enum NUID {
    private static let digits = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    static func next() -> String {
        var g = SystemRandomNumberGenerator()
        return String((0..<22).map { _ in digits[Int(g.next(upperBound: UInt64(62)))] })
    }
}
