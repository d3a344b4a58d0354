import AsyncHTTPClient
import Foundation
import LitestreamClient
import LitestreamCore
import LitestreamHTTP
import NIOCore
import NIOHTTP1
import SystemPackage

/// The JSON API requests a replica needs, each retried on transient failures with a jittered exponential backoff,
/// authorized with the service account's access token (none for an emulator), and counted by kind (see
/// ``GCSReplicaClient/requestCounts``).
struct GCSClient: Sendable {
    let bucket: String
    /// `scheme://host[:port]` of the JSON API, without a trailing `/`.
    let base: String
    let http: HTTPClient
    /// Nil for an emulator: no `Authorization` header.
    let tokens: GCSTokenSource?
    let maxAttempts: Int
    let requestTimeout: TimeAmount
    let chunkSize: Int
    var backoff = RetryBackoff()
    /// Every request sent, by kind; shared by copies of this client.
    let requests = RequestCounter()

    /// Google's endpoint.
    static let defaultEndpoint = "https://storage.googleapis.com"

    init(configuration c: GCSConfiguration) throws {
        guard !c.bucket.isEmpty else { throw GCSConfiguration.Invalid(description: "bucket required for gs replica") }
        bucket = c.bucket
        http = try c.httpClient ?? SharedHTTPClients.standard()
        maxAttempts = max(1, c.maxAttempts)
        requestTimeout = .nanoseconds(c.requestTimeout.wholeNanoseconds)
        chunkSize = max(256 << 10, c.chunkSize / (256 << 10) * (256 << 10))
        if let emulator = c.emulatorHost {
            // As Google's client libraries: a host without a scheme is plain HTTP.
            base = Self.trimmed(emulator.contains("://") ? emulator : "http://" + emulator)
            tokens = nil
        } else {
            base = Self.trimmed(c.endpoint ?? Self.defaultEndpoint)
            guard let file = c.credentialsFile else {
                throw GCSError(.credentials,
                    "no credentials for gs://\(c.bucket): set GOOGLE_APPLICATION_CREDENTIALS to a service account key "
                        + "file (or STORAGE_EMULATOR_HOST for an emulator); gcloud user credentials and the metadata "
                        + "server are not supported")
            }
            let account = try GCSServiceAccount(contentsOf: file)
            tokens = GCSTokenSource(account: account, http: http, attempts: maxAttempts, backoff: RetryBackoff())
        }
    }

    private static func trimmed(_ s: String) -> String { s.hasSuffix("/") ? String(s.dropLast()) : s }

    // MARK: URLs

    /// `…/storage/v1/b/<bucket>/o`: listing.
    var objectsURL: String { "\(base)/storage/v1/b/\(GCSObjectName.encode(bucket))/o" }

    /// `…/storage/v1/b/<bucket>/o/<object>`: an object's metadata, media (`alt=media`), deletion.
    func objectURL(_ name: String) -> String { objectsURL + "/" + GCSObjectName.encode(name) }

    /// `…/upload/storage/v1/b/<bucket>/o`: uploads.
    var uploadURL: String { "\(base)/upload/storage/v1/b/\(GCSObjectName.encode(bucket))/o" }

    // MARK: Requests

    /// What a request sends: nothing, bytes, or a range of an open file between two framing parts (made again for
    /// each attempt).
    enum Body: Sendable {
        case none
        case data(Data, contentType: String)
        case file(descriptor: Int32, path: String, offset: Int64, count: Int64, prefix: [UInt8], suffix: [UInt8], contentType: String)

        func make() throws -> HTTPClientRequest.Body? {
            switch self {
            case .none: nil
            case .data(let d, _): .bytes(ByteBuffer(bytes: d))
            case .file(let fd, let path, let offset, let count, let prefix, let suffix, _):
                try FileRequestBody.make(descriptor: fd, path: path, offset: offset, count: count, prefix: prefix, suffix: suffix)
            }
        }

        var contentType: String? {
            switch self {
            case .none: nil
            case .data(_, let t), .file(_, _, _, _, _, _, let t): t
            }
        }
    }

    struct Response: Sendable {
        var status: Int
        var reason: String
        var headers: HTTPHeaders
        var body: Data
        /// Which attempt answered (0: the first): a later one may find done what an earlier one did unseen.
        var attempt: Int
    }

    /// Sends one request and collects the answer, whatever its status, except that transient statuses and failed
    /// connections are tried again (up to `attempts`, default ``maxAttempts``) and then thrown as a ``GCSError``,
    /// and that a 401 to a token is tried once more with a new token.
    func send(
        _ method: HTTPMethod, _ url: String, operation: String, object: String?, kind: RequestCounts.Kind,
        headers: [(String, String)] = [], body: Body = .none, attempts: Int? = nil, maxResponseSize: Int = 64 << 20
    ) async throws -> Response {
        var refreshedToken = false
        return try await withRetries(operation, object: object, attempts: attempts ?? maxAttempts) { attempt in
            while true {
                var request = HTTPClientRequest(url: url)
                request.method = method
                let token = try await tokens?.token()
                if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
                for (name, value) in headers { request.headers.add(name: name, value: value) }
                if let type = body.contentType { request.headers.add(name: "content-type", value: type) }
                request.body = try body.make()
                requests.count(kind)
                let response = try await http.execute(request, timeout: requestTimeout)
                let collected = try await response.body.collect(upTo: maxResponseSize)
                let r = Response(
                    status: Int(response.status.code), reason: response.status.reasonPhrase, headers: response.headers,
                    body: Data(collected.readableBytesView), attempt: attempt)
                if r.status == 401, let token, !refreshedToken {
                    // Revoked or expired early: one more try with a new token.
                    refreshedToken = true
                    await tokens?.invalidate(token)
                    continue
                }
                if Self.isTransient(status: r.status) { throw failure(r, operation: operation, object: object) }
                return r
            }
        }
    }

    /// Whether an answer with `status` is worth another try: 408, 429 or a 5xx (``GCSError/isTransient``).
    static func isTransient(status: Int) -> Bool { status >= 500 || status == 408 || status == 429 }

    /// The error for an answer the caller did not expect, with the JSON API's `error.message` when there is one.
    func failure(_ r: Response, operation: String, object: String?) -> GCSError {
        let fields = (try? JSONSerialization.jsonObject(with: r.body)) as? [String: Any]
        let message = (fields?["error"] as? [String: Any])?["message"] as? String
        return GCSError.status(
            r.status, reason: r.reason, serverMessage: message, operation: operation, bucket: bucket, object: object,
            endpoint: base, authenticated: tokens != nil)
    }

    /// Runs `attempt` until it succeeds, fails for good, or `attempts` are used up, sleeping a backoff between
    /// tries. Failures without an answer become a ``GCSError/Code-swift.struct/connectionFailed`` naming the
    /// endpoint and the cause.
    func withRetries<T>(
        _ operation: String, object: String?, attempts: Int, _ attempt: (Int) async throws -> T
    ) async throws -> T {
        let target = "gs://\(bucket)" + (object.map { "/\($0)" } ?? "")
        return try await RetryLoop.run(
            attempts: attempts, backoff: backoff, isTransient: { (e: GCSError) in e.isTransient },
            isLocal: { $0 is SystemError },
            connectionFailure: { error, permanent in
                GCSError(.connectionFailed,
                    "gs \(operation) \(target) at \(base) failed: \(ConnectionFailure.describe(error))"
                        + (permanent ? "" : " (check that the endpoint \(base) is reachable)"),
                    cause: error)
            }, attempt)
    }

    // MARK: Downloads

    /// Downloads an object's media into the open file `fd` from its current position (an empty file). A body cut
    /// short is resumed from the bytes already written (`Range`), pinned to the generation first read (the
    /// `x-goog-generation` header) so that an object replaced meanwhile is not spliced. Returns the bytes written.
    func download(_ name: String, to fd: SystemPackage.FileDescriptor, path: String) async throws -> Int64 {
        var written: Int64 = 0
        var generation: String?
        return try await withRetries("download", object: name, attempts: maxAttempts) { _ in
            var url = objectURL(name) + "?alt=media"
            if let generation { url += "&generation=\(generation)" }
            var request = HTTPClientRequest(url: url)
            if let token = try await tokens?.token() { request.headers.add(name: "authorization", value: "Bearer \(token)") }
            if written > 0 { request.headers.add(name: "range", value: "bytes=\(written)-") }
            requests.count(.get)
            let response = try await http.execute(request, timeout: requestTimeout)
            let status = Int(response.status.code)
            guard status == 200 || status == 206 else {
                let body = try? await response.body.collect(upTo: 1 << 20)
                let r = Response(
                    status: status, reason: response.status.reasonPhrase, headers: response.headers,
                    body: body.map { Data($0.readableBytesView) } ?? Data(), attempt: 0)
                if status == 401, let token = request.headers.first(name: "authorization")?.dropFirst(7) {
                    await tokens?.invalidate(String(token))
                    throw GCSError(.connectionFailed, "gs download: the access token was refused; trying a new one")
                }
                throw failure(r, operation: "download", object: name)
            }
            var expected = response.headers.first(name: "content-length").flatMap { Int64($0) }
            if status == 200 {
                if written > 0 {  // the whole object again (the range was ignored): start over
                    try SystemError.wrap("ftruncate", path) { try fd.resize(to: 0) }
                    _ = try SystemError.wrap("lseek", path) { try fd.seek(offset: 0, from: .start) }
                    written = 0
                }
                generation = response.headers.first(name: "x-goog-generation")
            } else {
                // `Content-Range: bytes <first>-<last>/<size>` must continue exactly where the file ends.
                let range = response.headers.first(name: "content-range") ?? ""
                let first = range.split(separator: " ").last?.split(separator: "-").first.flatMap { Int64($0) }
                guard first == written else {
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    throw GCSError(.malformedResponse,
                        "gs download gs://\(bucket)/\(name): asked for bytes \(written)- and got Content-Range \(range)",
                        statusCode: status)
                }
                expected = expected.map { $0 + written }
            }
            for try await chunk in response.body {
                try chunk.withUnsafeReadableBytes { b in _ = try SystemError.wrap("write", path) { try fd.writeAll(b) } }
                written += Int64(chunk.readableBytes)
            }
            if let expected, written < expected {  // an early end without an error: resume like a reset
                throw GCSError(.malformedResponse,
                    "gs download gs://\(bucket)/\(name): the body ended after \(written) of \(expected) bytes")
            }
            return written
        }
    }
}
