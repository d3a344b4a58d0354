import Foundation
import LitestreamHTTP

/// Parsers for the few S3 XML response bodies the client reads, and the two request bodies it sends.
///
/// Element names are matched by local name, so a namespace prefix or the S3 default namespace does not matter.
enum S3XML {
    /// One object of a ListObjectsV2 page.
    struct ListedObject: Sendable, Equatable {
        var key: String
        var size: Int64
        var lastModified: Date?
        var etag: String?
    }

    /// A ListObjectsV2 page.
    struct ListPage: Sendable, Equatable {
        var objects: [ListedObject] = []
        var isTruncated = false
        var nextContinuationToken: String?
        var commonPrefixes: [String] = []
    }

    /// An `<Error>` body.
    struct ErrorBody: Sendable, Equatable {
        var code: String
        var message: String
        var region: String?
        var requestID: String?
        /// `<Endpoint>` of a `PermanentRedirect` (the host to use, which names the region on AWS).
        var endpoint: String? = nil
    }

    /// A DeleteObjects result: the keys that could not be deleted.
    struct DeleteResult: Sendable, Equatable {
        var deleted: [String] = []
        var errors: [(key: String, code: String, message: String)] = []

        static func == (a: Self, b: Self) -> Bool {
            a.deleted == b.deleted && a.errors.map { [$0.key, $0.code, $0.message] } == b.errors.map { [$0.key, $0.code, $0.message] }
        }
    }

    struct Malformed: Error, CustomStringConvertible {
        var what: String
        var description: String { "malformed S3 response: \(what)" }
    }

    // MARK: - Generic tree

    typealias Node = XMLTree.Node

    /// Parses a document into a tree; nil when it is not well-formed XML (see ``XMLTree``).
    static func parse(_ data: Data) -> Node? { XMLTree.parse(data) }

    // MARK: - Shapes

    /// The `<Error>` in a body, if the body is one (also for a 200 response that carries an error).
    static func parseError(_ data: Data) -> ErrorBody? {
        guard let root = parse(data), root.name == "Error" else { return nil }
        return ErrorBody(
            code: root.string("Code") ?? "", message: root.string("Message") ?? "",
            region: root.string("Region"), requestID: root.string("RequestId"), endpoint: root.string("Endpoint"))
    }

    /// A ListObjectsV2 result. With `urlEncoded` (the request sent `encoding-type=url`) keys, prefixes and
    /// `StartAfter` are percent-decoded.
    static func parseListObjectsV2(_ data: Data) throws -> ListPage {
        guard let root = parse(data), root.name == "ListBucketResult" else { throw Malformed(what: "ListObjectsV2") }
        let urlEncoded = root.string("EncodingType")?.lowercased() == "url"
        func decode(_ s: String) -> String { urlEncoded ? (percentDecode(s) ?? s) : s }
        var page = ListPage()
        page.isTruncated = root.string("IsTruncated")?.lowercased() == "true"
        page.nextContinuationToken = root.string("NextContinuationToken")
        for c in root.all("Contents") {
            guard let key = c.string("Key") else { throw Malformed(what: "ListObjectsV2 Contents without Key") }
            page.objects.append(ListedObject(
                key: decode(key), size: Int64(c.string("Size") ?? "") ?? 0,
                lastModified: c.string("LastModified").flatMap(parseISO8601),
                etag: c.string("ETag")))
        }
        for p in root.all("CommonPrefixes") {
            if let prefix = p.string("Prefix") { page.commonPrefixes.append(decode(prefix)) }
        }
        return page
    }

    /// The upload ID of an InitiateMultipartUpload result.
    static func parseInitiateMultipartUpload(_ data: Data) throws -> String {
        guard let root = parse(data), root.name == "InitiateMultipartUploadResult",
            let id = root.string("UploadId"), !id.isEmpty
        else { throw Malformed(what: "InitiateMultipartUpload") }
        return id
    }

    /// The ETag of a CompleteMultipartUpload result (errors in a 200 body are found by ``parseError(_:)``).
    static func parseCompleteMultipartUpload(_ data: Data) throws -> String? {
        guard let root = parse(data), root.name == "CompleteMultipartUploadResult" else {
            throw Malformed(what: "CompleteMultipartUpload")
        }
        return root.string("ETag")
    }

    /// The uploads of a ListMultipartUploads result: `(key, uploadID)`.
    static func parseListMultipartUploads(_ data: Data) throws -> [(key: String, uploadID: String)] {
        guard let root = parse(data), root.name == "ListMultipartUploadsResult" else {
            throw Malformed(what: "ListMultipartUploads")
        }
        return root.all("Upload").map { ($0.string("Key") ?? "", $0.string("UploadId") ?? "") }
    }

    static func parseDeleteResult(_ data: Data) throws -> DeleteResult {
        guard let root = parse(data), root.name == "DeleteResult" else { throw Malformed(what: "DeleteObjects") }
        var r = DeleteResult()
        for d in root.all("Deleted") { if let k = d.string("Key") { r.deleted.append(k) } }
        for e in root.all("Error") {
            r.errors.append((e.string("Key") ?? "", e.string("Code") ?? "", e.string("Message") ?? ""))
        }
        return r
    }

    // MARK: - Request bodies

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func completeMultipartUploadBody(parts: [(number: Int, etag: String)]) -> Data {
        var s = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for p in parts.sorted(by: { $0.number < $1.number }) {
            s += "<Part><PartNumber>\(p.number)</PartNumber><ETag>\(escape(p.etag))</ETag></Part>"
        }
        s += "</CompleteMultipartUpload>"
        return Data(s.utf8)
    }

    static func deleteObjectsBody(keys: [String]) -> Data {
        var s = "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
        for k in keys { s += "<Object><Key>\(escape(k))</Key></Object>" }
        s += "</Delete>"
        return Data(s.utf8)
    }

    // MARK: - Helpers

    /// Decodes `%XX` escapes (and nothing else: `+` stays `+`, as S3 encodes a space as `%20`).
    static func percentDecode(_ s: String) -> String? {
        guard s.contains("%") else { return s }
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else {
                    return nil
                }
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(bytes: bytes, encoding: .utf8)
    }

    /// `2026-11-27T04:12:53.217Z` or without fractional seconds.
    static func parseISO8601(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }
}
