import Foundation
import AsyncHTTPClient
import LTX
import NIOHTTP1
import Synchronization

import LitestreamHTTP
@testable import LitestreamOSS

/// An in-memory stand-in for the OSS operations a replica uses (PutObject, multipart upload, GetObject, HeadObject,
/// ListObjectsV2 with continuation tokens and URL-encoded keys, DeleteMultipleObjects), path-style on a canned
/// server. It checks every request's V4 signature from the request as received. No OSS emulator is in Debian or
/// PyPI; this only checks our own requests' flow.
final class FakeOSSService: Sendable {
    struct Object: Sendable {
        var data: [UInt8]
        var metadata: [String: String]
        var modified: Date
    }

    final class Store: Sendable {
        let state = Mutex<(objects: [String: Object], uploads: [String: [Int: [UInt8]]], next: Int)>(([:], [:], 0))
        let bucket = "bkt"
        let pageSize: Int
        let signer: OSSSigner
        init(id: String, secret: String, pageSize: Int) {
            self.pageSize = pageSize
            signer = OSSSigner(accessKeyID: id, accessKeySecret: secret, region: OSSConfiguration.defaultRegion)
        }
    }

    let store: Store
    let server: CannedHTTPServer

    init(id: String, secret: String, pageSize: Int = 2) throws {
        let store = Store(id: id, secret: secret, pageSize: pageSize)
        self.store = store
        server = try CannedHTTPServer { request, _ in store.handle(request) }
    }

    var endpoint: String { server.endpoint }
    var keys: [String] { store.state.withLock { $0.objects.keys.sorted() } }
    func object(_ key: String) -> Object? { store.state.withLock { $0.objects[key] } }
    func stop() { server.stop() }
}

extension FakeOSSService.Store {
    private func error(_ status: Int, _ code: String) -> CannedHTTPServer.Response {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>\(code)</Code><Message>\(code)</Message></Error>"
        return .init(status: status, headers: [("Content-Type", "application/xml")], body: Array(xml.utf8))
    }

    func handle(_ r: CannedHTTPServer.Request) -> CannedHTTPServer.Response {
        let (rawPath, rawQuery) = r.target.firstIndex(of: "?").map { (String(r.target[..<$0]), String(r.target[r.target.index(after: $0)...])) }
            ?? (r.target, "")
        var query: [(name: String, value: String)] = []
        for item in rawQuery.split(separator: "&") {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            query.append((URIEncoding.decode(String(parts[0])) ?? "", URIEncoding.decode(parts.count > 1 ? String(parts[1]) : "") ?? ""))
        }
        func q(_ n: String) -> String? { query.first { $0.name == n }?.value }
        guard rawPath.hasPrefix("/\(bucket)/") else { return error(404, "NoSuchBucket") }
        let key = URIEncoding.decode(String(rawPath.dropFirst(bucket.count + 2))) ?? ""

        // The signature, recomputed from what arrived, at the time the request says it was signed.
        guard let stamp = r.headers["x-oss-date"], stamp.count == 16 else { return error(403, "AccessDenied") }
        var tm = tm()
        tm.tm_year = Int32(stamp.prefix(4))! - 1900
        tm.tm_mon = Int32(stamp.dropFirst(4).prefix(2))! - 1
        tm.tm_mday = Int32(stamp.dropFirst(6).prefix(2))!
        tm.tm_hour = Int32(stamp.dropFirst(9).prefix(2))!
        tm.tm_min = Int32(stamp.dropFirst(11).prefix(2))!
        tm.tm_sec = Int32(stamp.dropFirst(13).prefix(2))!
        let date = Date(timeIntervalSince1970: TimeInterval(timegm(&tm)))
        let given = r.headers.filter {
            ($0.key.hasPrefix("x-oss-") || $0.key == "content-type" || $0.key == "content-md5")
                && !["x-oss-date", "x-oss-content-sha256", "x-oss-security-token"].contains($0.key)
        }
        let expected = signer.sign(
            method: r.method, bucket: bucket, key: key.isEmpty ? nil : key, query: query,
            headers: given.map { ($0.key, $0.value) }, date: date)
        guard r.headers["authorization"] == expected.authorization else { return error(403, "SignatureDoesNotMatch") }

        let forbid = r.headers["x-oss-forbid-overwrite"] == "true"
        let metadata = r.headers.filter { $0.key.hasPrefix("x-oss-meta-") }
            .reduce(into: [String: String]()) { $0[String($1.key.dropFirst("x-oss-meta-".count))] = $1.value }
        return state.withLock { s -> CannedHTTPServer.Response in
            switch r.method {
            case "PUT" where q("uploadId") != nil:
                guard let id = q("uploadId"), s.uploads[id] != nil, let n = Int(q("partNumber") ?? "") else { return error(404, "NoSuchUpload") }
                s.uploads[id]![n] = r.body
                return .init(status: 200, headers: [("ETag", "\"part-\(n)\"")])
            case "PUT":
                if forbid && s.objects[key] != nil { return error(409, "FileAlreadyExists") }
                s.objects[key] = .init(data: r.body, metadata: metadata, modified: Date())
                return .init(status: 200, headers: [("ETag", "\"etag\"")])
            case "POST" where q("uploads") != nil:
                s.next += 1
                let id = "upload-\(s.next)"
                s.uploads[id] = [:]
                // The metadata of the object-to-be, kept with the upload as part 0.
                s.uploads[id]![0] = Array(metadata.map { "\($0.key)=\($0.value)" }.joined(separator: "\n").utf8)
                let xml = "<InitiateMultipartUploadResult><Bucket>\(bucket)</Bucket><Key>\(key)</Key><UploadId>\(id)</UploadId></InitiateMultipartUploadResult>"
                return .init(status: 200, body: Array(xml.utf8))
            case "POST" where q("uploadId") != nil:
                guard let id = q("uploadId"), let parts = s.uploads.removeValue(forKey: id) else { return error(404, "NoSuchUpload") }
                if forbid && s.objects[key] != nil { return error(409, "FileAlreadyExists") }
                var meta: [String: String] = [:]
                for line in String(decoding: parts[0] ?? [], as: UTF8.self).split(separator: "\n") {
                    let kv = line.split(separator: "=", maxSplits: 1)
                    meta[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
                }
                let data = parts.keys.filter { $0 > 0 }.sorted().flatMap { parts[$0]! }
                s.objects[key] = .init(data: data, metadata: meta, modified: Date())
                return .init(status: 200, body: Array("<CompleteMultipartUploadResult/>".utf8))
            case "POST" where q("delete") != nil:
                let body = String(decoding: r.body, as: UTF8.self)
                var xml = "<DeleteResult>"
                for part in body.components(separatedBy: "<Key>").dropFirst() {
                    let k = part.components(separatedBy: "</Key>")[0].replacingOccurrences(of: "&amp;", with: "&")
                    s.objects[k] = nil
                    xml += "<Deleted><Key>\(part.components(separatedBy: "</Key>")[0])</Key></Deleted>"
                }
                return .init(status: 200, body: Array((xml + "</DeleteResult>").utf8))
            case "DELETE" where q("uploadId") != nil:
                s.uploads[q("uploadId")!] = nil
                return .init(status: 204)
            case "GET" where key.isEmpty:
                let names = s.objects.keys.filter { $0.hasPrefix(q("prefix") ?? "") }.sorted()
                let start = Int(q("continuation-token") ?? "") ?? 0
                let size = min(Int(q("max-keys") ?? "") ?? pageSize, pageSize)
                let more = start + size < names.count
                var xml = "<ListBucketResult><Name>\(bucket)</Name><EncodingType>url</EncodingType><IsTruncated>\(more)</IsTruncated>"
                if more { xml += "<NextContinuationToken>\(start + size)</NextContinuationToken>" }
                for n in names.dropFirst(start).prefix(size) {
                    let o = s.objects[n]!
                    xml += "<Contents><Key>\(URIEncoding.encode(n, keepSlash: false))</Key><LastModified>"
                        + RFC3339Timestamp.format(milliseconds: Int64(o.modified.timeIntervalSince1970 * 1000))
                        + "</LastModified><Size>\(o.data.count)</Size></Contents>"
                }
                return .init(status: 200, body: Array((xml + "</ListBucketResult>").utf8))
            case "GET":
                guard let o = s.objects[key] else { return error(404, "NoSuchKey") }
                return .init(status: 200, body: o.data)
            case "HEAD":
                guard let o = s.objects[key] else { return .init(status: 404) }
                return .init(status: 200, headers: [("Content-Length", String(o.data.count))]
                    + o.metadata.map { ("x-oss-meta-\($0.key)", $0.value) })
            default:
                return error(400, "InvalidRequest")
            }
        }
    }
}
