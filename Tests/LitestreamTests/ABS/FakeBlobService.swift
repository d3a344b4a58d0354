import Foundation
import AsyncHTTPClient
import LTX
import NIOHTTP1
import Synchronization

@testable import LitestreamABS
import LitestreamHTTP

/// An in-memory stand-in for the Blob service's few operations a replica uses (Put Blob, Put Block, Put Block List,
/// Get Blob, Get Blob Properties, Delete Blob, List Blobs with prefix, marker and metadata), on a canned server. It
/// checks every request's Shared Key signature as the service would, from the request as received, so a request
/// whose sent URL or headers differ from what was signed is refused. No emulator of Azure Blob Storage is in
/// Debian or PyPI (Azurite is npm-only); this is no substitute for one, only a check of our own requests' flow.
final class FakeBlobService: Sendable {
    struct Blob: Sendable {
        var data: [UInt8]
        var metadata: [String: String]
        var created: Date
    }

    /// The stored blobs and uncommitted blocks, shared with the server's handler.
    final class Store: Sendable {
        let state = Mutex<(blobs: [String: Blob], blocks: [String: [String: [UInt8]]])>(([:], [:]))
        let account = "devstoreaccount1"
        let container = "replicas"
        /// Names per List Blobs page: small, so that paging is exercised.
        let pageSize: Int
        let signer: ABSSigner
        init(key: String, pageSize: Int) throws {
            self.pageSize = pageSize
            signer = try ABSSigner(accountName: account, accountKey: key)
        }
    }

    let store: Store
    let server: CannedHTTPServer

    init(key: String, pageSize: Int = 2) throws {
        let store = try Store(key: key, pageSize: pageSize)
        self.store = store
        server = try CannedHTTPServer { request, _ in store.handle(request) }
    }

    var account: String { store.account }
    var endpoint: String { server.endpoint + "/" + store.account }
    var blobNames: [String] { store.state.withLock { $0.blobs.keys.sorted() } }
    func blob(_ name: String) -> Blob? { store.state.withLock { $0.blobs[name] } }

    func stop() { server.stop() }
}

extension FakeBlobService.Store {
    typealias Blob = FakeBlobService.Blob

    private func error(_ status: Int, _ code: String) -> CannedHTTPServer.Response {
        let xml = #"<?xml version="1.0" encoding="utf-8"?><Error><Code>\#(code)</Code><Message>\#(code)</Message></Error>"#
        return .init(status: status, headers: [("x-ms-error-code", code), ("Content-Type", "application/xml")], body: Array(xml.utf8))
    }

    func handle(_ r: CannedHTTPServer.Request) -> CannedHTTPServer.Response {
        let (rawPath, rawQuery) = r.target.firstIndex(of: "?").map { (String(r.target[..<$0]), String(r.target[r.target.index(after: $0)...])) }
            ?? (r.target, "")
        var query: [(name: String, value: String)] = []
        for item in rawQuery.split(separator: "&") {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            query.append((String(parts[0]), URIEncoding.decode(parts.count > 1 ? String(parts[1]) : "") ?? ""))
        }
        let expected = signer.sign(
            method: r.method, encodedPath: rawPath, query: query,
            headers: r.headers.filter { $0.key != "authorization" }.map { ($0.key, $0.value) })
        guard r.headers["authorization"] == expected.authorization else { return error(403, "AuthenticationFailed") }

        let prefix = "/\(account)/\(container)"
        guard rawPath.hasPrefix(prefix) else { return error(404, "ContainerNotFound") }
        let name = URIEncoding.decode(String(rawPath.dropFirst(prefix.count + 1))) ?? ""
        func q(_ n: String) -> String? { query.first { $0.name == n }?.value }
        let exclusive = r.headers["if-none-match"] == "*"
        let metadata = r.headers.filter { $0.key.hasPrefix("x-ms-meta-") }
            .reduce(into: [String: String]()) { $0[String($1.key.dropFirst("x-ms-meta-".count))] = $1.value }

        return state.withLock { s -> CannedHTTPServer.Response in
            switch (r.method, q("comp")) {
            case ("PUT", nil):
                guard r.headers["x-ms-blob-type"] == "BlockBlob" else { return error(400, "MissingRequiredHeader") }
                if exclusive && s.blobs[name] != nil { return error(409, "BlobAlreadyExists") }
                s.blobs[name] = Blob(data: r.body, metadata: metadata, created: Date())
                return .init(status: 201)
            case ("PUT", "block"):
                s.blocks[name, default: [:]][q("blockid") ?? ""] = r.body
                return .init(status: 201)
            case ("PUT", "blocklist"):
                if exclusive && s.blobs[name] != nil { return error(409, "BlobAlreadyExists") }
                let body = String(decoding: r.body, as: UTF8.self)
                var data: [UInt8] = []
                for part in body.components(separatedBy: "<Latest>").dropFirst() {
                    let id = part.components(separatedBy: "</Latest>")[0]
                    guard let block = s.blocks[name]?[id] else { return error(400, "InvalidBlockList") }
                    data += block
                }
                s.blocks[name] = nil
                s.blobs[name] = Blob(data: data, metadata: metadata, created: Date())
                return .init(status: 201)
            case ("GET", "list"):
                let names = s.blobs.keys.filter { $0.hasPrefix(q("prefix") ?? "") }.sorted()
                let start = Int(q("marker") ?? "") ?? 0
                let size = min(Int(q("maxresults") ?? "") ?? pageSize, pageSize)
                var xml = #"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="x" ContainerName="replicas"><Blobs>"#
                for n in names.dropFirst(start).prefix(size) {
                    let b = s.blobs[n]!
                    xml += "<Blob><Name>\(n)</Name><Properties><Creation-Time>\(ABSSigner.httpDate(b.created))</Creation-Time>"
                        + "<Content-Length>\(b.data.count)</Content-Length></Properties><Metadata>"
                        + b.metadata.map { "<\($0.key)>\($0.value)</\($0.key)>" }.joined() + "</Metadata></Blob>"
                }
                xml += "</Blobs><NextMarker>\(start + size < names.count ? String(start + size) : "")</NextMarker></EnumerationResults>"
                return .init(status: 200, headers: [("Content-Type", "application/xml")], body: Array(xml.utf8))
            case ("GET", nil):
                guard let b = s.blobs[name] else { return error(404, "BlobNotFound") }
                return .init(status: 200, body: b.data)
            case ("HEAD", nil):
                guard let b = s.blobs[name] else { return .init(status: 404, headers: [("x-ms-error-code", "BlobNotFound")]) }
                return .init(status: 200, headers: [("Content-Length", String(b.data.count))])
            case ("DELETE", nil):
                guard s.blobs.removeValue(forKey: name) != nil else { return error(404, "BlobNotFound") }
                return .init(status: 202)
            default:
                return error(400, "UnsupportedHttpVerb")
            }
        }
    }
}
