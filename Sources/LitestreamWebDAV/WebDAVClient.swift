import AsyncHTTPClient
import Foundation
import LitestreamClient
import LitestreamCore
import LitestreamHTTP
import NIOCore
import NIOHTTP1
import SystemPackage

/// The WebDAV requests a replica needs, each retried on transient failures with a jittered exponential backoff,
/// and counted by kind (see ``WebDAVReplicaClient/requestCounts``).
struct WebDAVClient: Sendable {
    let endpoint: WebDAVEndpoint
    /// The basic-auth user, for messages.
    let user: String?
    let http: HTTPClient
    let maxAttempts: Int
    let requestTimeout: TimeAmount
    var backoff = RetryBackoff()
    /// Every request sent, by kind; shared by copies of this client.
    let requests = RequestCounter()

    init(configuration c: WebDAVConfiguration) throws {
        endpoint = try c.endpoint()
        user = c.username ?? (try? URLParts(c.url))?.user
        http = try c.httpClient ?? SharedHTTPClients.standard()
        maxAttempts = max(1, c.maxAttempts)
        requestTimeout = .nanoseconds(c.requestTimeout.wholeNanoseconds)
    }

    /// What a request sends: nothing, bytes, or a range of an open file (made again for each attempt).
    enum Body: Sendable {
        case none
        case data(Data)
        case file(descriptor: Int32, path: String, size: Int64)

        func make() throws -> HTTPClientRequest.Body? {
            switch self {
            case .none: nil
            case .data(let d): .bytes(ByteBuffer(bytes: d))
            case .file(let fd, let path, let size): try FileRequestBody.make(descriptor: fd, path: path, count: size)
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
    /// connections are tried again (up to `attempts`, default ``maxAttempts``) and then thrown as a
    /// ``WebDAVError``.
    func send(
        _ method: String, _ segments: [String], collection: Bool = false, headers: [(String, String)] = [],
        body: Body = .none, attempts: Int? = nil, maxResponseSize: Int = 256 << 20
    ) async throws -> Response {
        let url = endpoint.url(segments, collection: collection)
        return try await withRetries(method, url, attempts: attempts ?? maxAttempts) { attempt in
            var request = HTTPClientRequest(url: url)
            request.method = HTTPMethod(rawValue: method)
            if let authorization = endpoint.authorization { request.headers.add(name: "authorization", value: authorization.value) }
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.body = try body.make()
            count(method)
            let response = try await http.execute(request, timeout: requestTimeout)
            let collected = try await response.body.collect(upTo: maxResponseSize)
            let r = Response(
                status: Int(response.status.code), reason: response.status.reasonPhrase, headers: response.headers,
                body: Data(collected.readableBytesView), attempt: attempt)
            try checkTransient(r, method: method, url: url)
            return r
        }
    }

    /// Throws the error of a transient status, for the retry loop.
    private func checkTransient(_ r: Response, method: String, url: String) throws {
        let e = WebDAVError.status(r.status, reason: r.reason, method: method, url: url, user: user)
        if e.isTransient { throw e }
    }

    /// The error for an answer the caller did not expect.
    func failure(_ r: Response, _ method: String, _ segments: [String], collection: Bool = false) -> WebDAVError {
        WebDAVError.status(
            r.status, reason: r.reason, method: method, url: endpoint.url(segments, collection: collection), user: user)
    }

    /// Runs `attempt` until it succeeds, fails for good, or `attempts` are used up, sleeping a backoff between
    /// tries. Failures without an answer become a ``WebDAVError/Code-swift.struct/connectionFailed`` naming the
    /// server and the cause.
    func withRetries<T>(
        _ method: String, _ url: String, attempts: Int, _ attempt: (Int) async throws -> T
    ) async throws -> T {
        let server = "\(endpoint.scheme)://\(endpoint.authority)"
        return try await RetryLoop.run(
            attempts: attempts, backoff: backoff, isTransient: { (e: WebDAVError) in e.isTransient },
            isLocal: { $0 is SystemError },
            connectionFailure: { error, permanent in
                WebDAVError(.connectionFailed,
                    "webdav \(method) \(url) failed: \(ConnectionFailure.describe(error))"
                        + (permanent ? "" : " (check that the server \(server) is reachable)"),
                    cause: error)
            }, attempt)
    }

    /// Counts a request about to be sent: PROPFIND is a listing; PUT, MOVE and MKCOL write.
    func count(_ method: String) {
        let kind: RequestCounts.Kind = switch method {
        case "PROPFIND": .list
        case "GET": .get
        case "HEAD": .head
        case "DELETE": .delete
        default: .put
        }
        requests.count(kind)
    }

    /// Downloads a file into the open file `fd` from its current position (an empty file). A body cut short is
    /// resumed from the bytes already written (`Range`, with `If-Range` so that a file replaced meanwhile comes
    /// whole again instead of spliced). Returns the number of bytes written.
    func download(_ segments: [String], to fd: SystemPackage.FileDescriptor, path: String) async throws -> Int64 {
        let url = endpoint.url(segments)
        var written: Int64 = 0
        var validator: String?
        return try await withRetries("GET", url, attempts: maxAttempts) { _ in
            var request = HTTPClientRequest(url: url)
            if let authorization = endpoint.authorization { request.headers.add(name: "authorization", value: authorization.value) }
            if written > 0 {
                request.headers.add(name: "range", value: "bytes=\(written)-")
                if let validator { request.headers.add(name: "if-range", value: validator) }
            }
            count("GET")
            let response = try await http.execute(request, timeout: requestTimeout)
            let status = Int(response.status.code)
            guard status == 200 || status == 206 else {
                let body = try? await response.body.collect(upTo: 1 << 20)
                let r = Response(
                    status: status, reason: response.status.reasonPhrase, headers: response.headers,
                    body: body.map { Data($0.readableBytesView) } ?? Data(), attempt: 0)
                throw WebDAVError.status(status, reason: r.reason, method: "GET", url: url, user: user)
            }
            var expected = response.headers.first(name: "content-length").flatMap { Int64($0) }
            if status == 200 {
                if written > 0 {  // the whole file again (the range was ignored, or the file changed): start over
                    try SystemError.wrap("ftruncate", path) { try fd.resize(to: 0) }
                    _ = try SystemError.wrap("lseek", path) { try fd.seek(offset: 0, from: .start) }
                    written = 0
                }
                validator = response.headers.first(name: "etag").flatMap { $0.hasPrefix("W/") ? nil : $0 }
                    ?? response.headers.first(name: "last-modified")
            } else {
                // `Content-Range: bytes <first>-<last>/<size>` must continue exactly where the file ends.
                let range = response.headers.first(name: "content-range") ?? ""
                let first = range.split(separator: " ").last?.split(separator: "-").first.flatMap { Int64($0) }
                guard first == written else {
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    throw WebDAVError(.malformedResponse,
                        "webdav GET \(url): asked for bytes \(written)- and got Content-Range \(range)", statusCode: status)
                }
                expected = expected.map { $0 + written }
            }
            for try await chunk in response.body {
                try chunk.withUnsafeReadableBytes { b in _ = try SystemError.wrap("write", path) { try fd.writeAll(b) } }
                written += Int64(chunk.readableBytes)
            }
            if let expected, written < expected {  // an early end without an error: resume like a reset
                throw WebDAVError(.malformedResponse,
                    "webdav GET \(url): the body ended after \(written) of \(expected) bytes")
            }
            return written
        }
    }
}
