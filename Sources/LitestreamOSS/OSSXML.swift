import Foundation
import LitestreamHTTP
import NIOHTTP1

/// OSS's XML: ListObjectsV2 pages, multipart and delete results, `<Error>` bodies read; the request bodies written.
enum OSSXML {
    struct ListedObject: Sendable, Equatable {
        var key: String
        var size: Int64
        /// `LastModified`, Unix milliseconds.
        var lastModified: Int64?
    }

    struct ListPage: Sendable, Equatable {
        var objects: [ListedObject] = []
        /// The token of the next page; nil on the last.
        var nextContinuationToken: String?
    }

    struct Malformed: Error, CustomStringConvertible {
        var what: String
        var description: String { "malformed OSS answer: \(what)" }
    }

    /// A `<ListBucketResult>`; with `<EncodingType>url</EncodingType>` the keys are percent-decoded.
    static func parseList(_ data: Data) throws -> ListPage {
        guard let root = XMLTree.parse(data), root.name == "ListBucketResult" else { throw Malformed(what: "no ListBucketResult") }
        let urlEncoded = root.string("EncodingType")?.lowercased() == "url"
        var page = ListPage()
        for c in root.all("Contents") {
            guard let raw = c.string("Key") else { throw Malformed(what: "Contents without a Key") }
            guard let key = urlEncoded ? URIEncoding.decode(raw) : raw else { throw Malformed(what: "a key that is not URL-encoded: \(raw)") }
            page.objects.append(ListedObject(
                key: key, size: Int64(c.string("Size") ?? "") ?? 0,
                lastModified: c.string("LastModified").flatMap(RFC3339Timestamp.parse)))
        }
        if root.string("IsTruncated")?.lowercased() == "true" {
            guard let token = root.string("NextContinuationToken"), !token.isEmpty else {
                throw Malformed(what: "a truncated listing without NextContinuationToken")
            }
            page.nextContinuationToken = token
        }
        return page
    }

    static func parseError(_ data: Data) -> (code: String, message: String)? {
        guard let root = XMLTree.parse(data), root.name == "Error", let code = root.string("Code") else { return nil }
        return (code, root.string("Message") ?? "")
    }

    /// InitiateMultipartUpload's `<UploadId>`.
    static func parseUploadID(_ data: Data) throws -> String {
        guard let root = XMLTree.parse(data), root.name == "InitiateMultipartUploadResult",
            let id = root.string("UploadId"), !id.isEmpty
        else { throw Malformed(what: "InitiateMultipartUpload without an UploadId") }
        return id
    }

    /// DeleteMultipleObjects' deleted keys (quiet off, so every deleted key is named, as Litestream checks); with
    /// `<EncodingType>url</EncodingType>` they are percent-decoded.
    static func parseDeleted(_ data: Data) throws -> Set<String> {
        guard let root = XMLTree.parse(data), root.name == "DeleteResult" else { throw Malformed(what: "no DeleteResult") }
        let urlEncoded = root.string("EncodingType")?.lowercased() == "url"
        var keys = Set<String>()
        for d in root.all("Deleted") {
            if let k = d.string("Key") { keys.insert(urlEncoded ? (URIEncoding.decode(k) ?? k) : k) }
        }
        return keys
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    static func deleteBody(keys: [String]) -> Data {
        var s = #"<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>false</Quiet>"#
        for k in keys { s += "<Object><Key>\(escape(k))</Key></Object>" }
        return Data((s + "</Delete>").utf8)
    }

    static func completeBody(etags: [(number: Int, etag: String)]) -> Data {
        var s = #"<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload>"#
        for p in etags.sorted(by: { $0.number < $1.number }) {
            s += "<Part><PartNumber>\(p.number)</PartNumber><ETag>\(escape(p.etag))</ETag></Part>"
        }
        return Data((s + "</CompleteMultipartUpload>").utf8)
    }
}
