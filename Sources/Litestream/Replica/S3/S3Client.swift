import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small S3 client: the calls a replica needs, signed with SigV4, retried on transient failures.
///
/// Every request's path and query are encoded once here and the same strings are signed and sent.
struct S3Client: Sendable {
    let bucket: String
    let scheme: String
    /// Host header value (with the bucket for virtual-hosted addressing, with `:port` when not default).
    let hostHeader: String
    let pathStyle: Bool
    let signer: S3Signer
    let http: HTTPClient
    let maxAttempts: Int
    let partSize: Int
    let storageClass: String?
    let sseKMSKeyID: String?
    /// `scheme://host[:port]`, for messages.
    let endpointDescription: String

    /// Backoff: a random delay in [d/2, d] with d = min(maxDelay, baseDelay × 2^attempt).
    var baseDelay: Duration = .milliseconds(100)
    var maxDelay: Duration = .seconds(10)
    var requestTimeout: TimeAmount = .minutes(10)

    init(configuration c: S3Configuration, environment env: [String: String] = ProcessInfo.processInfo.environment)
        throws
    {
        try c.validate()
        func nonEmpty(_ s: String?) -> String? { (s?.isEmpty ?? true) ? nil : s }
        guard
            let accessKey = nonEmpty(c.accessKeyID) ?? nonEmpty(env["AWS_ACCESS_KEY_ID"])
                ?? nonEmpty(env["LITESTREAM_ACCESS_KEY_ID"]),
            let secret = nonEmpty(c.secretAccessKey) ?? nonEmpty(env["AWS_SECRET_ACCESS_KEY"])
                ?? nonEmpty(env["LITESTREAM_SECRET_ACCESS_KEY"])
        else {
            throw S3Configuration.Invalid(
                description: "no S3 credentials for bucket \(c.bucket): set access-key-id and secret-access-key, "
                    + "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        let token = c.accessKeyID != nil ? nonEmpty(c.sessionToken) : (nonEmpty(c.sessionToken) ?? nonEmpty(env["AWS_SESSION_TOKEN"]))
        let region = nonEmpty(c.region) ?? nonEmpty(env["AWS_REGION"]) ?? nonEmpty(env["AWS_DEFAULT_REGION"]) ?? "us-east-1"

        let target: (scheme: String, host: String, port: Int?)
        if let endpoint = nonEmpty(c.endpoint) {
            guard let e = S3Configuration.normalizeEndpoint(endpoint) else {
                throw S3Configuration.Invalid(description: "invalid s3 endpoint \(endpoint)")
            }
            target = e
        } else {
            target = ("https", "s3.\(region).amazonaws.com", nil)
        }
        let (scheme, host, port) = target
        // Path style whenever an endpoint is set (unless turned off), and for dotted bucket names on AWS.
        let pathStyle = c.forcePathStyle ?? (nonEmpty(c.endpoint) != nil || c.bucket.contains("."))
        let defaultPort = scheme == "https" ? 443 : 80
        let hostPort = port.map { $0 == defaultPort ? host : "\(host):\($0)" } ?? host

        self.bucket = c.bucket
        self.scheme = scheme
        self.hostHeader = pathStyle ? hostPort : "\(c.bucket).\(hostPort)"
        self.pathStyle = pathStyle
        self.signer = S3Signer(accessKeyID: accessKey, secretAccessKey: secret, sessionToken: token, region: region)
        self.maxAttempts = max(1, c.maxAttempts)
        self.partSize = c.partSize
        self.storageClass = nonEmpty(c.storageClass)
        self.sseKMSKeyID = nonEmpty(c.sseKMSKeyID)
        self.endpointDescription = "\(scheme)://\(hostHeader)"
        if let client = c.httpClient {
            self.http = client
        } else if c.skipVerify {
            self.http = Self.insecureClient
        } else if let bundle = nonEmpty(env["AWS_CA_BUNDLE"]), scheme == "https" {
            self.http = try Self.client(caBundle: bundle)
        } else {
            self.http = Self.defaultClient
        }
    }

    // MARK: - HTTP clients (process-wide, never shut down, like HTTPClient.shared)

    /// `HTTPClient.shared`'s configuration, except that a failed connection fails the request at once (after the
    /// 10 s connect timeout) instead of being retried inside async-http-client until the request's deadline:
    /// our own retry loop reports an unreachable endpoint after `maxAttempts`.
    static func configuration(tls: TLSConfiguration? = nil) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        if let tls { configuration.tlsConfiguration = tls }
        return configuration
    }

    static let defaultClient = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration())

    static let insecureClient: HTTPClient = {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration(tls: tls))
    }()

    private static let caClients = Mutex<[String: HTTPClient]>([:])

    static func client(caBundle path: String) throws -> HTTPClient {
        try caClients.withLock { clients in
            if let c = clients[path] { return c }
            var tls = TLSConfiguration.makeClientConfiguration()
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(path)
            } catch {
                throw S3Configuration.Invalid(description: "cannot read AWS_CA_BUNDLE \(path): \(error)")
            }
            tls.additionalTrustRoots = [.certificates(certificates)]
            let c = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration(tls: tls))
            clients[path] = c
            return c
        }
    }

    // MARK: - Requests

    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: Data
    }

    /// The raw (unencoded) request path for a key, or for the bucket when `key` is nil.
    func rawPath(key: String?) -> String {
        switch (pathStyle, key) {
        case (true, let k?): return "/\(bucket)/\(k)"
        case (true, nil): return "/\(bucket)"
        case (false, let k?): return "/\(k)"
        case (false, nil): return "/"
        }
    }

    /// Builds and signs one request.
    func makeRequest(
        method: String, key: String?, query: [(name: String, value: String)], headers: [(name: String, value: String)],
        payloadHash: String, date: Date = Date()
    ) -> HTTPClientRequest {
        let path = S3Signer.encodePath(rawPath(key: key))
        let q = S3Signer.canonicalQuery(query)
        let signed = signer.sign(
            method: method, encodedPath: path, canonicalQuery: q,
            headers: [("host", hostHeader)] + headers, payloadHash: payloadHash, date: date)
        var request = HTTPClientRequest(url: "\(scheme)://\(hostHeader)\(path)\(q.isEmpty ? "" : "?" + q)")
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in signed.headers { request.headers.add(name: name, value: value) }
        return request
    }

    func error(
        _ operation: String, key: String?, status: Int?, headers: HTTPHeaders?, body: Data?, underlying: (any Error)? = nil
    ) -> S3Error {
        if let underlying {
            return S3Error(
                code: "ConnectionFailed", message: String(describing: underlying), statusCode: nil, operation: operation,
                bucket: bucket, key: key, endpoint: endpointDescription)
        }
        if let body, let e = S3XML.parseError(body) {
            var message = e.message
            if let region = e.region ?? headers?.first(name: "x-amz-bucket-region") { message += " (bucket region \(region))" }
            return S3Error(
                code: e.code, message: message, statusCode: status, operation: operation, bucket: bucket, key: key,
                endpoint: endpointDescription, requestID: e.requestID)
        }
        var code = "HTTP \(status ?? 0)"
        var message = ""
        switch status {
        case 404: code = key == nil ? "NoSuchBucket" : "NotFound"
        case 403: message = "access denied"
        case 301: message = headers?.first(name: "x-amz-bucket-region").map { "bucket is in region \($0)" } ?? "moved"
        default: break
        }
        return S3Error(
            code: code, message: message, statusCode: status, operation: operation, bucket: bucket, key: key,
            endpoint: endpointDescription, requestID: headers?.first(name: "x-amz-request-id"))
    }

    /// Runs `attempt` until it succeeds, a non-transient error occurs, or the attempts are used up, sleeping a
    /// jittered exponential backoff between tries.
    func withRetries<T>(_ operation: String, key: String?, _ attempt: (Int) async throws -> T) async throws -> T {
        var n = 0
        while true {
            do {
                return try await attempt(n)
            } catch let e as S3Error where e.isTransient && n + 1 < maxAttempts {
                // fall through to backoff
            } catch let e as S3Error {
                throw e
            } catch let e as CancellationError {
                throw e
            } catch let e as SystemError {
                throw e
            } catch {
                let wrapped = self.error(operation, key: key, status: nil, headers: nil, body: nil, underlying: error)
                if n + 1 >= maxAttempts { throw wrapped }
            }
            try await Task.sleep(for: backoff(attempt: n))
            n += 1
        }
    }

    func backoff(attempt: Int) -> Duration {
        let cap = min(maxDelay, baseDelay * (1 << min(attempt, 20)))
        return cap * Double.random(in: 0.5...1.0)
    }

    /// Sends a request with an in-memory body and collects the response; non-2xx statuses and `<Error>` bodies
    /// in 2xx responses (when `errorIn200`) become ``S3Error``s.
    func send(
        _ operation: String, method: String, key: String?, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: Data? = nil, errorIn200: Bool = false,
        maxResponseSize: Int = 64 << 20
    ) async throws -> Response {
        let payloadHash = body.map { S3Signer.payloadHash($0) } ?? S3Signer.emptyPayloadHash
        // Content-Length is set by async-http-client from the body (and is not signed).
        return try await withRetries(operation, key: key) { _ in
            var request = makeRequest(method: method, key: key, query: query, headers: headers, payloadHash: payloadHash)
            if let body { request.body = .bytes(body) }
            let response = try await http.execute(request, timeout: requestTimeout)
            let buffer = try await response.body.collect(upTo: maxResponseSize)
            let data = Data(buffer.readableBytesView)
            let status = Int(response.status.code)
            guard (200..<300).contains(status) else {
                throw error(operation, key: key, status: status, headers: response.headers, body: data, underlying: nil)
            }
            if errorIn200, S3XML.parseError(data) != nil {
                throw error(operation, key: key, status: status, headers: response.headers, body: data, underlying: nil)
            }
            return Response(status: status, headers: response.headers, body: data)
        }
    }

    // MARK: - Operations

    /// HeadBucket: checks that the bucket exists and the credentials work.
    func headBucket() async throws {
        _ = try await send("HeadBucket", method: "HEAD", key: nil)
    }

    /// CreateBucket (with a `LocationConstraint` outside us-east-1). For tests and set-up tools.
    func createBucket() async throws {
        let region = signer.region
        let body = region == "us-east-1" ? nil : Data(
            ("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                + "<LocationConstraint>\(S3XML.escape(region))</LocationConstraint></CreateBucketConfiguration>").utf8)
        _ = try await send("CreateBucket", method: "PUT", key: nil, body: body)
    }

    /// HeadObject: the response headers, names lower-cased; nil when the object does not exist.
    func headObject(key: String) async throws -> [String: String]? {
        do {
            var out: [String: String] = [:]
            for h in try await send("HeadObject", method: "HEAD", key: key).headers { out[h.name.lowercased()] = h.value }
            return out
        } catch let e as S3Error where e.statusCode == 404 {
            return nil
        }
    }

    /// PutObject (a single request) with user metadata (`x-amz-meta-<name>`).
    func putObject(key: String, body: Data, metadata: [String: String] = [:]) async throws {
        _ = try await send(
            "PutObject", method: "PUT", key: key, headers: uploadHeaders(metadata: metadata), body: body)
    }

    func uploadHeaders(metadata: [String: String]) -> [(name: String, value: String)] {
        var h: [(name: String, value: String)] = [("content-type", "application/octet-stream")]
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { h.append(("x-amz-meta-\(k.lowercased())", v)) }
        if let storageClass { h.append(("x-amz-storage-class", storageClass)) }
        if let sseKMSKeyID {
            h.append(("x-amz-server-side-encryption", "aws:kms"))
            h.append(("x-amz-server-side-encryption-aws-kms-key-id", sseKMSKeyID))
        }
        return h
    }

    /// Uploads `body`: one PutObject when it fits in a part, else a multipart upload with parts of
    /// `partSize` bytes, aborted on failure.
    func upload(key: String, body: Data, metadata: [String: String] = [:]) async throws {
        if body.count <= partSize {
            try await putObject(key: key, body: body, metadata: metadata)
            return
        }
        let initiated = try await send(
            "CreateMultipartUpload", method: "POST", key: key, query: [("uploads", "")],
            headers: uploadHeaders(metadata: metadata))
        let uploadID = try S3XML.parseInitiateMultipartUpload(initiated.body)
        do {
            var parts: [(number: Int, etag: String)] = []
            var offset = 0
            var number = 1
            while offset < body.count {
                let end = min(body.count, offset + partSize)
                let part = body.subdata(in: offset..<end)
                let r = try await send(
                    "UploadPart", method: "PUT", key: key,
                    query: [("partNumber", "\(number)"), ("uploadId", uploadID)], body: part)
                guard let etag = r.headers.first(name: "etag") else {
                    throw error("UploadPart", key: key, status: r.status, headers: r.headers, body: nil)
                }
                parts.append((number, etag))
                offset = end
                number += 1
            }
            _ = try await send(
                "CompleteMultipartUpload", method: "POST", key: key, query: [("uploadId", uploadID)],
                headers: [("content-type", "application/xml")],
                body: S3XML.completeMultipartUploadBody(parts: parts), errorIn200: true)
        } catch {
            try? await abortMultipartUpload(key: key, uploadID: uploadID)
            throw error
        }
    }

    func abortMultipartUpload(key: String, uploadID: String) async throws {
        _ = try await send("AbortMultipartUpload", method: "DELETE", key: key, query: [("uploadId", uploadID)])
    }

    /// One ListObjectsV2 page (keys decoded from `encoding-type=url`).
    func listObjectsV2(prefix: String, continuationToken: String?, maxKeys: Int? = nil) async throws -> S3XML.ListPage {
        var query: [(name: String, value: String)] = [("list-type", "2"), ("prefix", prefix), ("encoding-type", "url")]
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        if let maxKeys { query.append(("max-keys", "\(maxKeys)")) }
        let r = try await send("ListObjectsV2", method: "GET", key: nil, query: query)
        do {
            return try S3XML.parseListObjectsV2(r.body)
        } catch {
            throw S3Error(
                code: "MalformedResponse", message: "\(error)", statusCode: r.status, operation: "ListObjectsV2",
                bucket: bucket, key: nil, endpoint: endpointDescription)
        }
    }

    /// Every object under `prefix`, following continuation tokens.
    func listAll(prefix: String, maxKeys: Int? = nil) async throws -> [S3XML.ListedObject] {
        var out: [S3XML.ListedObject] = []
        var token: String?
        repeat {
            let page = try await listObjectsV2(prefix: prefix, continuationToken: token, maxKeys: maxKeys)
            out += page.objects
            token = page.isTruncated ? page.nextContinuationToken : nil
            if page.isTruncated && token == nil {
                throw S3Error(
                    code: "MalformedResponse", message: "truncated listing without a continuation token",
                    statusCode: 200, operation: "ListObjectsV2", bucket: bucket, key: nil, endpoint: endpointDescription)
            }
        } while token != nil
        return out
    }

    /// DeleteObjects in batches of at most 1000 keys, with Content-MD5. Missing keys are not errors.
    func deleteObjects(keys: [String], batchSize: Int = 1000) async throws {
        var start = 0
        while start < keys.count {
            let batch = Array(keys[start..<min(keys.count, start + batchSize)])
            let body = S3XML.deleteObjectsBody(keys: batch)
            let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
            let r = try await send(
                "DeleteObjects", method: "POST", key: nil, query: [("delete", "")],
                headers: [("content-md5", md5), ("content-type", "application/xml")], body: body, errorIn200: true)
            let result = try S3XML.parseDeleteResult(r.body)
            if let first = result.errors.first(where: { $0.code != "NoSuchKey" }) {
                throw S3Error(
                    code: first.code, message: first.message + " (\(result.errors.count) keys not deleted)",
                    statusCode: r.status, operation: "DeleteObjects", bucket: bucket, key: first.key,
                    endpoint: endpointDescription)
            }
            start += batch.count
        }
    }

    /// Downloads an object into `fd` (from its current position), resuming from the bytes already written
    /// with a `Range` request after a connection failure. Returns the number of bytes written.
    func download(key: String, to fd: Int32, path: String) async throws -> Int64 {
        var written: Int64 = 0
        return try await withRetries("GetObject", key: key) { _ in
            var headers: [(name: String, value: String)] = []
            if written > 0 { headers.append(("range", "bytes=\(written)-")) }
            let request = makeRequest(
                method: "GET", key: key, query: [], headers: headers, payloadHash: S3Signer.emptyPayloadHash)
            let response = try await http.execute(request, timeout: requestTimeout)
            let status = Int(response.status.code)
            guard status == 200 || status == 206 else {
                let body = try? await response.body.collect(upTo: 1 << 20)
                throw error(
                    "GetObject", key: key, status: status, headers: response.headers,
                    body: body.map { Data($0.readableBytesView) })
            }
            if status == 200 && written > 0 {  // the server ignored the range: start over
                guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
                    throw SystemError(operation: "truncate", path: path, errno: errno)
                }
                written = 0
            }
            for try await chunk in response.body {
                try chunk.withUnsafeReadableBytes { try POSIX.writeAll(fd, $0, path: path) }
                written += Int64(chunk.readableBytes)
            }
            return written
        }
    }
}

extension Duration {
    fileprivate static func * (d: Duration, f: Double) -> Duration {
        .nanoseconds(Int64(Double(d.components.seconds) * 1e9 * f + Double(d.components.attoseconds) / 1e9 * f))
    }
}
