import AsyncHTTPClient
import Crypto
import Foundation
import LitestreamClient
import LitestreamCore
import LitestreamHTTP
import NIOCore
import NIOHTTP1

/// The OSS requests a replica needs, signed with V4, retried on transient failures and counted by kind.
struct OSSClient: Sendable {
    let bucket: String
    let scheme: String
    /// `host[:port]` of the endpoint, without the bucket.
    let endpointHost: String
    /// Path-style addressing (`host/bucket/key`) for an IP address, as the Go SDK does; else the bucket is a
    /// subdomain.
    let pathStyle: Bool
    let signer: OSSSigner
    var exchange: HTTPExchange
    let requests = RequestCounter()

    init(configuration c: OSSConfiguration, environment env: [String: String]) throws {
        guard !c.bucket.isEmpty else { throw OSSConfiguration.Invalid(description: "bucket required for oss replica") }
        func nonEmpty(_ s: String?) -> String? { (s?.isEmpty ?? true) ? nil : s }
        let region = nonEmpty(c.region) ?? OSSConfiguration.defaultRegion
        let configured = nonEmpty(c.accessKeyID) != nil && nonEmpty(c.accessKeySecret) != nil
        guard
            let id = configured ? c.accessKeyID : nonEmpty(env["OSS_ACCESS_KEY_ID"]),
            let secret = configured ? c.accessKeySecret : nonEmpty(env["OSS_ACCESS_KEY_SECRET"])
        else {
            throw OSSConfiguration.Invalid(
                description: "no OSS credentials for bucket \(c.bucket): set access-key-id and secret-access-key, or "
                    + "OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET")
        }
        let token = configured ? nonEmpty(c.securityToken) : nonEmpty(env["OSS_SESSION_TOKEN"])
        signer = OSSSigner(accessKeyID: id, accessKeySecret: secret, securityToken: token, region: region)

        var endpoint = nonEmpty(c.endpoint) ?? "oss-\(region).aliyuncs.com"
        if !endpoint.contains("://") { endpoint = "https://" + endpoint }
        guard let r = endpoint.range(of: "://") else { throw OSSConfiguration.Invalid(description: "invalid oss endpoint") }
        scheme = endpoint[..<r.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw OSSConfiguration.Invalid(description: "oss endpoint \(OSSConfiguration.redacted(endpoint)) must start with http:// or https://")
        }
        let rest = endpoint[r.upperBound...]
        endpointHost = String(rest[..<(rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex)])
        guard !endpointHost.isEmpty else {
            throw OSSConfiguration.Invalid(description: "oss endpoint \(OSSConfiguration.redacted(endpoint)) has no host")
        }
        let hostName = endpointHost.hasPrefix("[") ? endpointHost : String(endpointHost.split(separator: ":").first ?? "")
        pathStyle = hostName.hasPrefix("[") || (hostName.split(separator: ".").count == 4 && hostName.split(separator: ".").allSatisfy { UInt8($0) != nil })
        bucket = c.bucket
        exchange = HTTPExchange(
            http: try c.httpClient ?? SharedHTTPClients.standard(), maxAttempts: c.maxAttempts, requestTimeout: c.requestTimeout)
    }

    /// `scheme://host[:port]` the requests go to, for messages.
    var endpointDescription: String { "\(scheme)://\(pathStyle ? endpointHost : "\(bucket).\(endpointHost)")" }

    /// A signed request for the bucket, or a key in it.
    func makeRequest(
        _ method: String, key: String?, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], date: Date = Date()
    ) -> HTTPClientRequest {
        let signed = signer.sign(method: method, bucket: bucket, key: key, query: query, headers: headers, date: date)
        let path = (pathStyle ? "/\(bucket)" : "") + "/" + (key.map { URIEncoding.encode($0, keepSlash: true) } ?? "")
        let q = query.map { $0.value.isEmpty ? URIEncoding.encode($0.name, keepSlash: false)
            : "\(URIEncoding.encode($0.name, keepSlash: false))=\(URIEncoding.encode($0.value, keepSlash: false))" }
            .joined(separator: "&")
        var request = HTTPClientRequest(url: "\(endpointDescription)\(path)\(q.isEmpty ? "" : "?" + q)")
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in signed.headers where name != "content-length" { request.headers.add(name: name, value: value) }
        return request
    }

    /// Sends a request (signed anew per attempt) and returns its answer when it is a `2xx` or one of `accept`;
    /// throws an ``OSSError`` otherwise.
    func send(
        _ operation: String, _ method: String, key: String?, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: (() throws -> HTTPClientRequest.Body)? = nil,
        accept: Set<Int> = []
    ) async throws -> HTTPExchange.Response {
        let r: HTTPExchange.Response
        do {
            r = try await exchange.send(isTransient: { OSSError.isTransient(status: $0.status) }) { _ in
                var request = makeRequest(method, key: key, query: query, headers: headers)
                if let body { request.body = try body() }
                count(method, key: key, query: query)
                return request
            }
        } catch let e as HTTPExchange.NoAnswer {
            throw noAnswer(e, operation: operation, key: key)
        }
        guard (200..<300).contains(r.status) || accept.contains(r.status) else {
            throw OSSError.answer(r, operation: operation, bucket: bucket, key: key, endpoint: endpointDescription, region: signer.region)
        }
        return r
    }

    func noAnswer(_ e: HTTPExchange.NoAnswer, operation: String, key: String?) -> OSSError {
        OSSError(.connectionFailed,
            "oss \(operation) failed for bucket \(bucket)\(key.map { " key \($0)" } ?? "") at \(endpointDescription): "
                + "\(e) (check that the endpoint \(endpointDescription) is reachable)",
            cause: e.cause)
    }

    func count(_ method: String, key: String?, query: [(name: String, value: String)]) {
        let kind: RequestCounts.Kind = switch method {
        case "GET": key == nil ? .list : .get
        case "HEAD": .head
        case "DELETE": .delete
        case "POST": query.contains { $0.name == "delete" } ? .delete : .put
        default: .put
        }
        requests.count(kind)
    }

    // MARK: - Operations

    /// One ListObjectsV2 page (keys URL-encoded in the answer, as the Go SDK asks).
    func listObjects(prefix: String, continuationToken: String?, maxKeys: Int? = nil) async throws -> OSSXML.ListPage {
        var query: [(name: String, value: String)] = [("list-type", "2"), ("prefix", prefix), ("encoding-type", "url")]
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        query.append(("max-keys", String(maxKeys ?? 1000)))
        let r = try await send("ListObjectsV2", "GET", key: nil, query: query)
        do {
            return try OSSXML.parseList(r.body)
        } catch {
            throw OSSError(.malformedResponse, "oss ListObjectsV2 for bucket \(bucket) at \(endpointDescription): \(error)",
                statusCode: r.status)
        }
    }

    func listAll(prefix: String, maxKeys: Int? = nil) async throws -> [OSSXML.ListedObject] {
        var out: [OSSXML.ListedObject] = []
        var token: String?
        repeat {
            let page = try await listObjects(prefix: prefix, continuationToken: token, maxKeys: maxKeys)
            out += page.objects
            token = page.nextContinuationToken
        } while token != nil
        return out
    }

    /// The object's headers (names lower-cased); nil when there is no such object.
    func headObject(_ key: String) async throws -> [String: String]? {
        let r = try await send("HeadObject", "HEAD", key: key, accept: [404])
        guard r.status != 404 else { return nil }
        var out: [String: String] = [:]
        for h in r.headers { out[h.name.lowercased()] = h.value }
        return out
    }

    /// The headers of an object written: type, timestamp metadata, and `x-oss-forbid-overwrite` when no object may
    /// have the key yet.
    static func objectHeaders(timestamp: String, exclusive: Bool) -> [(name: String, value: String)] {
        var h: [(name: String, value: String)] = [("content-type", "application/octet-stream"), ("x-oss-meta-litestream-timestamp", timestamp)]
        if exclusive { h.append(("x-oss-forbid-overwrite", "true")) }
        return h
    }

    func putObject(_ key: String, fd: Int32, path: String, size: Int64, timestamp: String, exclusive: Bool) async throws {
        _ = try await send(
            "PutObject", "PUT", key: key,
            headers: [("content-length", String(size))] + Self.objectHeaders(timestamp: timestamp, exclusive: exclusive),
            body: { try FileRequestBody.make(descriptor: fd, path: path, count: size) })
    }

    /// A multipart upload of the open file in parts of `partSize`, one at a time; aborted when anything fails.
    func multipartUpload(_ key: String, fd: Int32, path: String, size: Int64, partSize: Int64, timestamp: String, exclusive: Bool) async throws {
        let initiated = try await send(
            "InitiateMultipartUpload", "POST", key: key, query: [("uploads", "")],
            headers: Self.objectHeaders(timestamp: timestamp, exclusive: exclusive))
        let uploadID: String
        do {
            uploadID = try OSSXML.parseUploadID(initiated.body)
        } catch {
            throw OSSError(.malformedResponse, "oss InitiateMultipartUpload for bucket \(bucket) key \(key): \(error)")
        }
        do {
            var etags: [(number: Int, etag: String)] = []
            var offset: Int64 = 0
            var number = 1
            while offset < size {
                let n = min(partSize, size - offset)
                let at = offset
                let r = try await send(
                    "UploadPart", "PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                    headers: [("content-length", String(n))],
                    body: { try FileRequestBody.make(descriptor: fd, path: path, offset: at, count: n) })
                guard let etag = r.headers.first(name: "etag") else {
                    throw OSSError(.malformedResponse, "oss UploadPart for bucket \(bucket) key \(key): no ETag", statusCode: r.status)
                }
                etags.append((number, etag))
                offset += n
                number += 1
            }
            let body = OSSXML.completeBody(etags: etags)
            var headers: [(name: String, value: String)] = [("content-length", String(body.count)), ("content-type", "application/xml")]
            if exclusive { headers.append(("x-oss-forbid-overwrite", "true")) }
            _ = try await send(
                "CompleteMultipartUpload", "POST", key: key, query: [("uploadId", uploadID)], headers: headers,
                body: { .bytes(ByteBuffer(bytes: body)) })
        } catch {
            // Parts of an abandoned upload are billed until aborted; best effort, not cancelled with this task.
            let abort = makeRequest("DELETE", key: key, query: [("uploadId", uploadID)])
            count("DELETE", key: key, query: [])
            _ = try? await exchange.http.execute(abort, timeout: .seconds(30))
            throw error
        }
    }

    /// DeleteMultipleObjects in batches of 1,000 (with Content-MD5, which OSS requires); every key must be named
    /// deleted (a missing key counts as deleted), as Litestream checks.
    func deleteObjects(_ keys: [String]) async throws {
        var start = 0
        while start < keys.count {
            let batch = Array(keys[start..<min(keys.count, start + 1000)])
            let body = OSSXML.deleteBody(keys: batch)
            let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
            let r = try await send(
                "DeleteMultipleObjects", "POST", key: nil, query: [("delete", "")],
                headers: [("content-length", String(body.count)), ("content-md5", md5), ("content-type", "application/xml")],
                body: { .bytes(ByteBuffer(bytes: body)) })
            let deleted: Set<String>
            do {
                deleted = try OSSXML.parseDeleted(r.body)
            } catch {
                throw OSSError(.malformedResponse, "oss DeleteMultipleObjects for bucket \(bucket): \(error)", statusCode: r.status)
            }
            let failed = batch.filter { !deleted.contains($0) }
            if !failed.isEmpty {
                throw OSSError(.httpStatus,
                    "oss DeleteMultipleObjects for bucket \(bucket) at \(endpointDescription): \(failed.count) keys not "
                        + "deleted, first \(failed[0])", statusCode: r.status)
            }
            start += batch.count
        }
    }

    /// GetObject into the open file `fd` (started over on each attempt). Returns the bytes written.
    func getObject(_ key: String, to fd: Int32, path: String) async throws -> Int64 {
        let (r, written): (HTTPExchange.Response, Int64)
        do {
            (r, written) = try await exchange.download(to: fd, path: path, isTransient: { OSSError.isTransient(status: $0.status) }) { _ in
                count("GET", key: key, query: [])
                return makeRequest("GET", key: key)
            }
        } catch let e as HTTPExchange.NoAnswer {
            throw noAnswer(e, operation: "GetObject", key: key)
        }
        guard (200..<300).contains(r.status) else {
            throw OSSError.answer(r, operation: "GetObject", bucket: bucket, key: key, endpoint: endpointDescription, region: signer.region)
        }
        return written
    }
}
