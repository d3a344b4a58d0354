import LitestreamClient
import LitestreamCore
import LitestreamHTTP
import SystemPackage
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization


/// A small S3 client: the calls a replica needs, signed with SigV4, retried on transient failures.
///
/// Every request's path and query are encoded once here and the same strings are signed and sent.
struct S3Client: Sendable {
    let bucket: String
    let scheme: String
    let pathStyle: Bool
    let http: HTTPClient
    let maxAttempts: Int
    let partSize: Int
    /// Parts of one multipart upload in flight at once.
    let concurrency: Int
    let storageClass: String?
    let sseKMSKeyID: String?
    /// SSE-C headers for object reads and writes; nil without SSE-C.
    let sseCustomer: SSECustomerKey?
    /// The region-dependent part of the client, shared by copies so that a region learned from the server is
    /// used by every later request.
    let addressing: AddressingBox

    /// Backoff: a random delay in [d/2, d] with d = min(maxDelay, baseDelay × 2^attempt).
    var baseDelay: Duration = .milliseconds(100)
    var maxDelay: Duration = .seconds(10)
    var requestTimeout: TimeAmount = .minutes(10)
    /// Every request sent, by kind; shared by copies of this client.
    let requests = RequestCounter()
    /// Test hook: counts the bytes of upload bodies held in memory.
    var bufferGauge: S3BufferGauge?
    /// Test hook: called before each UploadPart with the part number; throwing fails that part.
    var partUploadHook: (@Sendable (Int) throws -> Void)?

    /// Where requests go and how they are signed.
    struct Addressing: Sendable {
        var signer: S3Signer
        /// Host header value (with the bucket for virtual-hosted addressing, with `:port` when not default).
        var hostHeader: String
        /// True when the region may be replaced by the one the server names (AWS, no region configured).
        var detectRegion: Bool
    }

    final class AddressingBox: Sendable {
        let state: Mutex<Addressing>
        /// `host[:port]` of a custom endpoint; nil for AWS (`s3.<region>.amazonaws.com`).
        let customHost: String?
        let bucket: String
        let pathStyle: Bool

        init(_ a: Addressing, customHost: String?, bucket: String, pathStyle: Bool) {
            state = Mutex(a)
            self.customHost = customHost
            self.bucket = bucket
            self.pathStyle = pathStyle
        }

        static func host(region: String, customHost: String?, bucket: String, pathStyle: Bool) -> String {
            let hostPort = customHost ?? "s3.\(region).amazonaws.com"
            return pathStyle ? hostPort : "\(bucket).\(hostPort)"
        }
    }

    var signer: S3Signer { addressing.state.withLock { $0.signer } }
    var hostHeader: String { addressing.state.withLock { $0.hostHeader } }
    /// `scheme://host[:port]`, for messages.
    var endpointDescription: String { "\(scheme)://\(hostHeader)" }

    /// Switches to `region` when the region was not configured and the server named the bucket's region;
    /// returns whether anything changed.
    func adoptRegion(_ region: String) -> Bool {
        addressing.state.withLock { a in
            guard a.detectRegion, a.signer.region != region, !region.isEmpty else { return false }
            a.signer.region = region
            a.hostHeader = AddressingBox.host(
                region: region, customHost: addressing.customHost, bucket: addressing.bucket,
                pathStyle: addressing.pathStyle)
            a.detectRegion = false
            return true
        }
    }

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
        let configuredRegion = nonEmpty(c.region) ?? nonEmpty(env["AWS_REGION"]) ?? nonEmpty(env["AWS_DEFAULT_REGION"])
        let region = configuredRegion ?? "us-east-1"

        var customHost: String?
        let scheme: String
        if let endpoint = nonEmpty(c.endpoint) {
            guard let (s, host, port) = S3Configuration.normalizeEndpoint(endpoint) else {
                throw S3Configuration.Invalid(description: "invalid s3 endpoint \(endpoint)")
            }
            let defaultPort = s == "https" ? 443 : 80
            customHost = port.map { $0 == defaultPort ? host : "\(host):\($0)" } ?? host
            scheme = s
        } else {
            scheme = "https"
        }
        // Path style whenever an endpoint is set (unless turned off), and for dotted bucket names on AWS.
        let pathStyle = c.forcePathStyle ?? (nonEmpty(c.endpoint) != nil || c.bucket.contains("."))

        self.bucket = c.bucket
        self.scheme = scheme
        self.pathStyle = pathStyle
        self.addressing = AddressingBox(
            Addressing(
                signer: S3Signer(accessKeyID: accessKey, secretAccessKey: secret, sessionToken: token, region: region),
                hostHeader: AddressingBox.host(
                    region: region, customHost: customHost, bucket: c.bucket, pathStyle: pathStyle),
                // As Litestream (GetBucketLocation when neither region nor endpoint is set): on AWS the bucket's
                // region is learned from the first wrong-region answer.
                detectRegion: configuredRegion == nil && customHost == nil),
            customHost: customHost, bucket: c.bucket, pathStyle: pathStyle)
        self.maxAttempts = max(1, c.maxAttempts)
        self.partSize = c.partSize
        self.concurrency = max(1, c.concurrency)
        self.storageClass = nonEmpty(c.storageClass)
        self.sseKMSKeyID = nonEmpty(c.sseKMSKeyID)
        self.sseCustomer = try c.sseCustomer()
        if let client = c.httpClient {
            self.http = client
        } else if c.skipVerify {
            self.http = Self.insecureClient
        } else if let bundle = nonEmpty(env["AWS_CA_BUNDLE"]), scheme == "https" {
            self.http = try Self.client(caBundle: bundle)
        } else {
            self.http = try Self.defaultClient()
        }
    }

    // MARK: - HTTP clients (process-wide, never shut down: see SharedHTTPClients)

    static func defaultClient() throws -> HTTPClient { try SharedHTTPClients.standard() }

    static var insecureClient: HTTPClient { SharedHTTPClients.insecure }

    static func client(caBundle path: String) throws -> HTTPClient {
        do {
            return try SharedHTTPClients.client(caBundle: path)
        } catch {
            throw S3Configuration.Invalid(description: "cannot read AWS_CA_BUNDLE \(path): \(error)")
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

    /// A signed request's parts, usable for both async-http-client request types.
    struct SignedRequest {
        var url: String
        var method: HTTPMethod
        var headers: HTTPHeaders
    }

    /// Builds and signs one request (with the addressing current at this moment).
    func signRequest(
        method: String, key: String?, query: [(name: String, value: String)], headers: [(name: String, value: String)],
        payloadHash: String, date: Date = Date()
    ) -> SignedRequest {
        let (signer, host) = addressing.state.withLock { ($0.signer, $0.hostHeader) }
        let path = S3Signer.encodePath(rawPath(key: key))
        let q = S3Signer.canonicalQuery(query)
        let signed = signer.sign(
            method: method, encodedPath: path, canonicalQuery: q,
            headers: [("host", host)] + headers, payloadHash: payloadHash, date: date)
        var out = SignedRequest(
            url: "\(scheme)://\(host)\(path)\(q.isEmpty ? "" : "?" + q)", method: HTTPMethod(rawValue: method),
            headers: HTTPHeaders())
        for (name, value) in signed.headers { out.headers.add(name: name, value: value) }
        return out
    }

    /// Builds and signs one request.
    func makeRequest(
        method: String, key: String?, query: [(name: String, value: String)], headers: [(name: String, value: String)],
        payloadHash: String, date: Date = Date()
    ) -> HTTPClientRequest {
        let s = signRequest(
            method: method, key: key, query: query, headers: headers, payloadHash: payloadHash, date: date)
        var request = HTTPClientRequest(url: s.url)
        request.method = s.method
        request.headers = s.headers
        return request
    }

    func error(
        _ operation: String, key: String?, status: Int?, headers: HTTPHeaders?, body: Data?, underlying: (any Error)? = nil
    ) -> S3Error {
        let signingRegion = signer.region
        if let underlying {
            return S3Error(
                code: "ConnectionFailed", message: Self.describeConnectionFailure(underlying), statusCode: nil,
                operation: operation, bucket: bucket, key: key, endpoint: endpointDescription,
                signingRegion: signingRegion, cause: underlying)
        }
        var e: S3Error
        if let body, let parsed = S3XML.parseError(body) {
            e = S3Error(
                code: parsed.code, message: parsed.message, statusCode: status, operation: operation, bucket: bucket,
                key: key, endpoint: endpointDescription, requestID: parsed.requestID)
            e.bucketRegion = parsed.region ?? parsed.endpoint.flatMap(Self.region(fromEndpoint:))
        } else {
            var code = "HTTP \(status ?? 0)"
            var message = ""
            switch status {
            case 404: code = key == nil ? "NoSuchBucket" : "NotFound"
            case 403: message = "access denied"
            case 301: message = "moved permanently"
            case 400: message = "bad request"
            default: break
            }
            e = S3Error(
                code: code, message: message, statusCode: status, operation: operation, bucket: bucket, key: key,
                endpoint: endpointDescription, requestID: headers?.first(name: "x-amz-request-id"))
        }
        e.signingRegion = signingRegion
        if let region = headers?.first(name: "x-amz-bucket-region"), !region.isEmpty { e.bucketRegion = region }
        if e.code == "RequestTimeTooSkewed", let server = headers?.first(name: "date").flatMap(Self.parseHTTPDate) {
            e.clockSkew = .seconds(Date().timeIntervalSince(server).rounded())
        }
        return e
    }

    /// The region in an AWS endpoint host (`bkt.s3.eu-west-1.amazonaws.com`, `s3-eu-west-1.amazonaws.com`).
    static func region(fromEndpoint host: String) -> String? {
        let labels = host.lowercased().split(separator: ".")
        guard let i = labels.lastIndex(where: { $0 == "s3" || $0.hasPrefix("s3-") }), labels.last == "com" else {
            return nil
        }
        if labels[i] == "s3" {
            guard i + 1 < labels.count, labels[i + 1] != "amazonaws" else { return nil }
            return String(labels[i + 1])
        }
        return String(labels[i].dropFirst(3))
    }

    /// An HTTP `Date` header (RFC 1123).
    static func parseHTTPDate(_ s: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.date(from: s)
    }

    /// What went wrong when no response arrived, in a few words (see ``ConnectionFailure``).
    static func describeConnectionFailure(_ error: any Error) -> String { ConnectionFailure.describe(error) }

    /// Runs `attempt` until it succeeds, a non-transient error occurs, or the attempts are used up, sleeping a
    /// jittered exponential backoff between tries. A wrong-region answer is retried at once in the named region
    /// when the region was not configured (AWS only).
    func withRetries<T>(_ operation: String, key: String?, _ attempt: (Int) async throws -> T) async throws -> T {
        var n = 0
        while true {
            do {
                return try await attempt(n)
            } catch let e as S3Error where e.isWrongRegion && e.bucketRegion.map(adoptRegion) == true {
                continue  // signed and addressed for the bucket's region now
            } catch let e as S3Error where e.isTransient && n + 1 < maxAttempts {
                // fall through to backoff
            } catch var e as S3Error {
                e.attempt = n
                throw e
            } catch let e as CancellationError {
                throw e
            } catch let e as SystemError {
                throw e
            } catch {
                let wrapped = self.error(operation, key: key, status: nil, headers: nil, body: nil, underlying: error)
                if n + 1 >= maxAttempts || ConnectionFailure.isPermanent(error) { throw wrapped }
            }
            try await Task.sleep(for: backoff(attempt: n))
            n += 1
        }
    }

    func backoff(attempt: Int) -> Duration {
        RetryBackoff(baseDelay: baseDelay, maxDelay: maxDelay).delay(attempt: attempt)
    }

    /// Sends a request with an in-memory body and collects the response; non-2xx statuses and `<Error>` bodies
    /// in 2xx responses (when `errorIn200`) become ``S3Error``s.
    func send(
        _ operation: String, method: String, key: String?, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: Data?, errorIn200: Bool = false,
        maxResponseSize: Int = 64 << 20
    ) async throws -> Response {
        try await send(
            operation, method: method, key: key, query: query, headers: headers, buffer: body.map { ByteBuffer(bytes: $0) },
            errorIn200: errorIn200, maxResponseSize: maxResponseSize)
    }

    /// ``send(_:method:key:query:headers:body:errorIn200:maxResponseSize:)`` with a `ByteBuffer` body (upload
    /// parts: no copy).
    func send(
        _ operation: String, method: String, key: String?, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], buffer: ByteBuffer? = nil, errorIn200: Bool = false,
        maxResponseSize: Int = 64 << 20
    ) async throws -> Response {
        let payloadHash = buffer.map { S3Signer.payloadHash($0) } ?? S3Signer.emptyPayloadHash
        // Content-Length is set by async-http-client from the body (and is not signed).
        return try await withRetries(operation, key: key) { _ in
            var request = makeRequest(method: method, key: key, query: query, headers: headers, payloadHash: payloadHash)
            if let buffer { request.body = .bytes(buffer) }
            count(method: method, key: key, query: query)
            let response = try await http.execute(request, timeout: requestTimeout)
            let collected = try await response.body.collect(upTo: maxResponseSize)
            let data = Data(collected.readableBytesView)
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

    /// Sends a body-less request that is not cancelled with the calling task (async-http-client's future API):
    /// cleaning up after a cancelled upload must still reach the server. Tries a few times; reports nothing.
    func sendIgnoringCancellation(method: String, key: String?, query: [(name: String, value: String)]) async {
        for _ in 0..<3 {
            let s = signRequest(
                method: method, key: key, query: query, headers: [], payloadHash: S3Signer.emptyPayloadHash)
            guard let request = try? HTTPClient.Request(url: s.url, method: s.method, headers: s.headers) else { return }
            count(method: method, key: key, query: query)
            let response = try? await http.execute(request: request, deadline: .now() + .seconds(30)).get()
            if let response, response.status.code < 500 { return }
        }
    }

    /// Counts a request about to be sent, as S3 bills it (see ``RequestCounts``).
    func count(method: String, key: String?, query: [(name: String, value: String)]) {
        requests.count(Self.kind(method: method, key: key, query: query))
    }

    /// A request's kind: a GET of the bucket is a listing; a POST is an upload step (multipart) unless it is
    /// DeleteObjects.
    static func kind(method: String, key: String?, query: [(name: String, value: String)]) -> RequestCounts.Kind {
        switch method {
        case "GET": key == nil ? .list : .get
        case "HEAD": .head
        case "DELETE": .delete
        case "POST": query.contains { $0.name == "delete" } ? .delete : .put
        default: .put
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

    /// The SSE-C headers, which S3 needs on every request that reads or writes an SSE-C object's data.
    var sseCustomerHeaders: [(name: String, value: String)] { sseCustomer?.headers ?? [] }

    /// HeadObject: the response headers, names lower-cased; nil when the object does not exist.
    func headObject(key: String) async throws -> [String: String]? {
        do {
            var out: [String: String] = [:]
            for h in try await send("HeadObject", method: "HEAD", key: key, headers: sseCustomerHeaders).headers {
                out[h.name.lowercased()] = h.value
            }
            return out
        } catch let e as S3Error where e.statusCode == 404 {
            return nil
        }
    }

    /// PutObject (a single request) with user metadata (`x-amz-meta-<name>`).
    func putObject(key: String, body: Data, metadata: [String: String] = [:]) async throws {
        try await putObject(key: key, buffer: ByteBuffer(bytes: body), metadata: metadata)
    }

    /// - Parameter exclusive: only if no object has the key (`If-None-Match: *`); else a 412 ``S3Error``.
    func putObject(key: String, buffer: ByteBuffer, metadata: [String: String] = [:], exclusive: Bool = false) async throws {
        _ = try await send(
            "PutObject", method: "PUT", key: key,
            headers: uploadHeaders(metadata: metadata) + (exclusive ? [Self.ifNoneMatch] : []), buffer: buffer)
    }

    /// The condition of an exclusive write: no object has the key yet (S3 and moto honour it on PutObject and
    /// CompleteMultipartUpload).
    static let ifNoneMatch = (name: "if-none-match", value: "*")

    /// Headers of PutObject and CreateMultipartUpload: type, metadata, storage class, SSE.
    func uploadHeaders(metadata: [String: String]) -> [(name: String, value: String)] {
        var h: [(name: String, value: String)] = [("content-type", "application/octet-stream")]
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { h.append(("x-amz-meta-\(k.lowercased())", v)) }
        if let storageClass { h.append(("x-amz-storage-class", storageClass)) }
        if let sseKMSKeyID {
            h.append(("x-amz-server-side-encryption", "aws:kms"))
            h.append(("x-amz-server-side-encryption-aws-kms-key-id", sseKMSKeyID))
        }
        return h + sseCustomerHeaders
    }

    func abortMultipartUpload(key: String, uploadID: String) async throws {
        _ = try await send("AbortMultipartUpload", method: "DELETE", key: key, query: [("uploadId", uploadID)])
    }

    /// The multipart uploads in progress under `prefix` (one page): `(key, uploadID)`.
    func listMultipartUploads(prefix: String) async throws -> [(key: String, uploadID: String)] {
        let r = try await send("ListMultipartUploads", method: "GET", key: nil, query: [("uploads", ""), ("prefix", prefix)])
        return try S3XML.parseListMultipartUploads(r.body)
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

    /// Downloads an object into `file` (from its current position). A body cut short (a reset connection, an
    /// early end) is resumed from the bytes already written with `Range: bytes=<written>-` and `If-Match: <ETag>`,
    /// so that an object replaced meanwhile is reported (`ObjectChanged`) rather than spliced. Returns the number
    /// of bytes written.
    func download(key: String, to file: borrowing OpenFile) async throws -> Int64 {
        let (fd, path) = (file.descriptor, file.path)  // open for the whole call: `file` is borrowed
        var written: Int64 = 0
        var etag: String?
        var total: Int64?
        return try await withRetries("GetObject", key: key) { _ in
            var headers = sseCustomerHeaders
            if written > 0 {
                headers.append(("range", "bytes=\(written)-"))
                if let etag { headers.append(("if-match", etag)) }
            }
            let request = makeRequest(
                method: "GET", key: key, query: [], headers: headers, payloadHash: S3Signer.emptyPayloadHash)
            count(method: "GET", key: key, query: [])
            let response = try await http.execute(request, timeout: requestTimeout)
            let status = Int(response.status.code)
            if status == 412 {
                _ = try? await response.body.collect(upTo: 1 << 20)
                throw S3Error(
                    code: "ObjectChanged",
                    message: "the object's ETag is no longer \(etag ?? "?") after \(written) of \(total.map(String.init) ?? "?") bytes",
                    statusCode: status, operation: "GetObject", bucket: bucket, key: key, endpoint: endpointDescription,
                    requestID: response.headers.first(name: "x-amz-request-id"))
            }
            guard status == 200 || status == 206 else {
                let body = try? await response.body.collect(upTo: 1 << 20)
                throw error(
                    "GetObject", key: key, status: status, headers: response.headers,
                    body: body.map { Data($0.readableBytesView) })
            }
            if status == 200 {
                if written > 0 {  // the server ignored the range: start over
                    guard ftruncate(fd.rawValue, 0) == 0, lseek(fd.rawValue, 0, SEEK_SET) == 0 else {
                        throw SystemError.last("truncate", path)
                    }
                    written = 0
                }
                etag = response.headers.first(name: "etag")
                total = response.headers.first(name: "content-length").flatMap { Int64($0) }
            } else {
                // `Content-Range: bytes <first>-<last>/<size>` must continue exactly where the file ends.
                let range = response.headers.first(name: "content-range") ?? ""
                let first = range.split(separator: " ").last?.split(separator: "-").first.flatMap { Int64($0) }
                guard first == written else {
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    throw S3Error(
                        code: "MalformedResponse", message: "asked for bytes \(written)- and got Content-Range \(range)",
                        statusCode: status, operation: "GetObject", bucket: bucket, key: key,
                        endpoint: endpointDescription)
                }
            }
            for try await chunk in response.body {
                try chunk.withUnsafeReadableBytes { b in try SystemError.wrap("write", path) { try fd.writeAll(b) } }
                written += Int64(chunk.readableBytes)
            }
            if let total, written < total {  // an early end without an error: resume like a reset
                throw S3Error(
                    code: "IncompleteBody", message: "the body ended after \(written) of \(total) bytes",
                    statusCode: nil, operation: "GetObject", bucket: bucket, key: key, endpoint: endpointDescription)
            }
            return written
        }
    }
}
