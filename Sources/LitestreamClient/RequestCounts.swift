/// Requests sent to a replica, by kind, since replication started: what an object store bills for.
///
/// Every HTTP request is counted when it is sent, retries included, classified as S3 prices them:
///
/// | Kind | S3 requests |
/// |---|---|
/// | ``Kind/put`` | PutObject; CreateMultipartUpload, each UploadPart and CompleteMultipartUpload; CreateBucket |
/// | ``Kind/get`` | GetObject (a resumed download counts each request) |
/// | ``Kind/list`` | ListObjectsV2 (each page), ListMultipartUploads |
/// | ``Kind/delete`` | DeleteObjects (each batch of up to 1000 keys), AbortMultipartUpload |
/// | ``Kind/head`` | HeadObject, HeadBucket |
///
/// JSON: `{"put": 12, "get": 0, "list": 3, "delete": 1, "head": 0}`; a kind missing from the JSON reads as 0.
public struct RequestCounts: Sendable, Equatable, Codable {
    /// A kind of request, named as the HTTP method (LIST: a GET of the bucket's listing).
    public enum Kind: String, Sendable, CaseIterable, CustomStringConvertible {
        case put = "PUT", get = "GET", list = "LIST", delete = "DELETE", head = "HEAD"

        public var description: String { rawValue }
    }

    public var put: Int64 = 0
    public var get: Int64 = 0
    public var list: Int64 = 0
    public var delete: Int64 = 0
    public var head: Int64 = 0

    public init() {}

    /// The count of one kind.
    public subscript(kind: Kind) -> Int64 {
        get {
            switch kind {
            case .put: put
            case .get: get
            case .list: list
            case .delete: delete
            case .head: head
            }
        }
        set {
            switch kind {
            case .put: put = newValue
            case .get: get = newValue
            case .list: list = newValue
            case .delete: delete = newValue
            case .head: head = newValue
            }
        }
    }

    /// Every kind together.
    public var total: Int64 { Kind.allCases.reduce(0) { $0 + self[$1] } }

    private enum CodingKeys: String, CodingKey { case put, get, list, delete, head }

    /// Reads JSON written by this or a later version (kinds it lacks read as 0).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        put = try c.decodeIfPresent(Int64.self, forKey: .put) ?? 0
        get = try c.decodeIfPresent(Int64.self, forKey: .get) ?? 0
        list = try c.decodeIfPresent(Int64.self, forKey: .list) ?? 0
        delete = try c.decodeIfPresent(Int64.self, forKey: .delete) ?? 0
        head = try c.decodeIfPresent(Int64.self, forKey: .head) ?? 0
    }
}
