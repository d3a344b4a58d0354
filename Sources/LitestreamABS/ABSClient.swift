import AsyncHTTPClient
import Foundation
import LitestreamClient
import LitestreamCore
import LitestreamHTTP
import NIOCore
import NIOHTTP1

/// The Blob service requests a replica needs, each authorized (Shared Key or SAS), retried on transient failures
/// and counted by kind.
struct ABSClient: Sendable {
    /// `scheme://host[:port]` plus any path of the endpoint (an emulator's account), without a trailing `/`.
    let base: String
    /// The URL's path before the container (`/devstoreaccount1` on an emulator, empty on Azure).
    let basePath: String
    let account: String
    let container: String
    let credential: ABSCredential
    var exchange: HTTPExchange
    /// The service version sent as `x-ms-version`.
    static let version = "2023-11-03"
    let requests = RequestCounter()

    init(configuration c: ABSConfiguration, environment: [String: String]) throws {
        guard !c.container.isEmpty else { throw ABSConfiguration.Invalid(description: "bucket (the container) required for abs replica") }
        credential = try c.credential(environment: environment)
        let endpoint: String
        if let e = c.endpoint, !e.isEmpty {
            endpoint = e.contains("://") ? e : "https://" + e
        } else {
            guard !c.accountName.isEmpty else {
                throw ABSConfiguration.Invalid(
                    description: "abs: account name is required when endpoint is not specified (container \(c.container))")
            }
            endpoint = "https://\(c.accountName).blob.core.windows.net"
        }
        guard let r = endpoint.range(of: "://"), ["http", "https"].contains(endpoint[..<r.lowerBound].lowercased()) else {
            throw ABSConfiguration.Invalid(description: "abs endpoint \(ABSConfiguration.redacted(endpoint)) must start with http:// or https://")
        }
        var trimmed = Substring(endpoint)
        if let q = trimmed.firstIndex(of: "?") { trimmed = trimmed[..<q] }
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let afterScheme = trimmed[r.upperBound...]
        guard !afterScheme.isEmpty, !afterScheme.hasPrefix("/") else {
            throw ABSConfiguration.Invalid(description: "abs endpoint \(ABSConfiguration.redacted(endpoint)) has no host")
        }
        base = String(trimmed)
        basePath = afterScheme.firstIndex(of: "/").map { String(afterScheme[$0...]) } ?? ""
        account = c.accountName
        container = c.container
        exchange = HTTPExchange(
            http: try c.httpClient ?? SharedHTTPClients.standard(), maxAttempts: c.maxAttempts, requestTimeout: c.requestTimeout)
    }

    /// `scheme://host[:port]`, for messages.
    var endpointDescription: String {
        guard let r = base.range(of: "://") else { return base }
        let rest = base[r.upperBound...]
        return String(base[..<(rest.firstIndex(of: "/") ?? rest.endIndex)])
    }

    var usesSAS: Bool { if case .sas = credential { true } else { false } }

    /// The encoded path of the container, or of a blob in it.
    func encodedPath(blob: String?) -> String {
        "\(basePath)/\(container)" + (blob.map { "/" + URIEncoding.encode($0, keepSlash: true) } ?? "")
    }

    /// The URL for messages: no query, so no SAS token.
    func displayURL(blob: String?) -> String { base + "/\(container)" + (blob.map { "/\($0)" } ?? "") }

    /// A request, authorized, with `x-ms-date` and `x-ms-version`.
    func makeRequest(
        _ method: String, blob: String?, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], date: Date = Date()
    ) -> HTTPClientRequest {
        let all = [("x-ms-date", ABSSigner.httpDate(date)), ("x-ms-version", Self.version)] + headers
        var q = query.map { "\($0.name)=\(URIEncoding.encode($0.value, keepSlash: false))" }.joined(separator: "&")
        let path = encodedPath(blob: blob)
        var authorization: String?
        switch credential {
        case .sharedKey(let signer):
            authorization = signer.sign(method: method, encodedPath: path, query: query, headers: all).authorization
        case .sas(let token):
            q += (q.isEmpty ? "" : "&") + token.query
        }
        // The endpoint's own path is already in `path`: the URL is the scheme and authority, then `path`.
        var request = HTTPClientRequest(url: String(base.dropLast(basePath.count)) + path + (q.isEmpty ? "" : "?" + q))
        if let authorization { request.headers.add(name: "authorization", value: authorization) }
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in all where name != "content-length" { request.headers.add(name: name, value: value) }
        return request
    }

    /// Sends a request (made anew per attempt) and returns its answer when it is a `2xx` or one of `accept`;
    /// throws an ``ABSError`` otherwise.
    func send(
        _ operation: String, _ method: String, blob: String?, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: (() throws -> HTTPClientRequest.Body)? = nil,
        accept: Set<Int> = []
    ) async throws -> HTTPExchange.Response {
        let r: HTTPExchange.Response
        do {
            r = try await exchange.send(isTransient: { ABSError.isTransient(status: $0.status) }) { _ in
                var request = makeRequest(method, blob: blob, query: query, headers: headers)
                if let body { request.body = try body() }
                count(method, blob: blob)
                return request
            }
        } catch let e as HTTPExchange.NoAnswer {
            throw ABSError.noAnswer(e, operation: operation, url: displayURL(blob: blob), endpoint: endpointDescription)
        }
        guard (200..<300).contains(r.status) || accept.contains(r.status) else {
            throw ABSError.answer(
                r, operation: operation, url: displayURL(blob: blob), container: container, account: account,
                usesSAS: usesSAS)
        }
        return r
    }

    func count(_ method: String, blob: String?) {
        let kind: RequestCounts.Kind = switch method {
        case "GET": blob == nil ? .list : .get
        case "HEAD": .head
        case "DELETE": .delete
        default: .put
        }
        requests.count(kind)
    }

    // MARK: - Operations

    /// One List Blobs page under `prefix`, with metadata.
    func listBlobs(prefix: String, marker: String?, maxResults: Int? = nil) async throws -> ABSXML.ListPage {
        var query: [(name: String, value: String)] = [("restype", "container"), ("comp", "list"), ("prefix", prefix), ("include", "metadata")]
        if let marker { query.append(("marker", marker)) }
        if let maxResults { query.append(("maxresults", String(maxResults))) }
        let r = try await send("ListBlobs", "GET", blob: nil, query: query)
        do {
            return try ABSXML.parseList(r.body)
        } catch {
            throw ABSError(.malformedResponse, "abs ListBlobs \(displayURL(blob: nil)): \(error)", statusCode: r.status)
        }
    }

    /// Every blob under `prefix`, page by page.
    func listAll(prefix: String, maxResults: Int? = nil) async throws -> [ABSXML.ListedBlob] {
        var out: [ABSXML.ListedBlob] = []
        var marker: String?
        repeat {
            let page = try await listBlobs(prefix: prefix, marker: marker, maxResults: maxResults)
            out += page.blobs
            marker = page.nextMarker
        } while marker != nil
        return out
    }

    /// The blob's size; nil when there is no such blob.
    func blobSize(_ blob: String) async throws -> Int64? {
        let r = try await send("GetBlobProperties", "HEAD", blob: blob, accept: [404])
        return r.status == 404 ? nil : r.headers.first(name: "content-length").flatMap { Int64($0) }
    }

    /// Deletes a blob; one already gone is no error.
    func deleteBlob(_ blob: String) async throws {
        _ = try await send("DeleteBlob", "DELETE", blob: blob, accept: [404])
    }

    /// The headers of a committed blob: its content type, Hot tier and timestamp metadata, as Litestream writes
    /// them; `If-None-Match: *` when no blob may have the name yet.
    static func blobHeaders(timestamp: String, exclusive: Bool, contentTypeHeader: String) -> [(name: String, value: String)] {
        var h: [(name: String, value: String)] = [
            (contentTypeHeader, "application/octet-stream"), ("x-ms-access-tier", "Hot"),
            ("x-ms-meta-\(ABSXML.timestampMetadata)", timestamp),
        ]
        if exclusive { h.append(("if-none-match", "*")) }
        return h
    }

    /// Put Blob from `count` bytes of the open file `fd` at `offset` 0.
    func putBlob(_ blob: String, fd: Int32, path: String, size: Int64, timestamp: String, exclusive: Bool) async throws {
        _ = try await send(
            "PutBlob", "PUT", blob: blob,
            headers: [("content-length", String(size)), ("x-ms-blob-type", "BlockBlob")]
                + Self.blobHeaders(timestamp: timestamp, exclusive: exclusive, contentTypeHeader: "content-type"),
            body: { try FileRequestBody.make(descriptor: fd, path: path, count: size) })
    }

    /// Put Block: `count` bytes at `offset` of the open file, as block `id`.
    func putBlock(_ blob: String, id: String, fd: Int32, path: String, offset: Int64, count: Int64) async throws {
        _ = try await send(
            "PutBlock", "PUT", blob: blob, query: [("comp", "block"), ("blockid", id)],
            headers: [("content-length", String(count))],
            body: { try FileRequestBody.make(descriptor: fd, path: path, offset: offset, count: count) })
    }

    /// Put Block List: commits the blocks, in order, as the blob.
    func putBlockList(_ blob: String, ids: [String], timestamp: String, exclusive: Bool) async throws {
        let body = ABSXML.blockList(ids)
        _ = try await send(
            "PutBlockList", "PUT", blob: blob, query: [("comp", "blocklist")],
            headers: [("content-length", String(body.count)), ("content-type", "application/xml")]
                + Self.blobHeaders(timestamp: timestamp, exclusive: exclusive, contentTypeHeader: "x-ms-blob-content-type"),
            body: { .bytes(ByteBuffer(bytes: body)) })
    }

    /// Get Blob into the open file `fd` (started over on each attempt). Returns the bytes written.
    func getBlob(_ blob: String, to fd: Int32, path: String) async throws -> Int64 {
        let (r, written): (HTTPExchange.Response, Int64)
        do {
            (r, written) = try await exchange.download(to: fd, path: path, isTransient: { ABSError.isTransient(status: $0.status) }) { _ in
                count("GET", blob: blob)
                return makeRequest("GET", blob: blob)
            }
        } catch let e as HTTPExchange.NoAnswer {
            throw ABSError.noAnswer(e, operation: "GetBlob", url: displayURL(blob: blob), endpoint: endpointDescription)
        }
        guard (200..<300).contains(r.status) else {
            throw ABSError.answer(
                r, operation: "GetBlob", url: displayURL(blob: blob), container: container, account: account, usesSAS: usesSAS)
        }
        return written
    }
}
