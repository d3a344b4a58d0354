package import AsyncHTTPClient
package import Foundation
package import NIOCore
package import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Requests with retries, for the object-store clients (Azure Blob, OSS): a request is made again for each
/// attempt (signed anew), sent, and its answer collected; an answer the store's rules call transient, or no
/// answer at all, is tried again after a jittered backoff. Callers turn the final answer into their own error,
/// naming the endpoint and the cause.
package struct HTTPExchange: Sendable {
    package let http: HTTPClient
    /// Tries in all before a transient failure is reported.
    package let maxAttempts: Int
    package let requestTimeout: TimeAmount
    package var backoff = RetryBackoff()

    package init(http: HTTPClient, maxAttempts: Int, requestTimeout: Duration) {
        self.http = http
        self.maxAttempts = max(1, maxAttempts)
        self.requestTimeout = .nanoseconds(Int64(requestTimeout.components.seconds) * 1_000_000_000
            + requestTimeout.components.attoseconds / 1_000_000_000)
    }

    /// A collected answer.
    package struct Response: Sendable {
        package var status: Int
        package var reason: String
        package var headers: HTTPHeaders
        package var body: Data
        /// Which attempt answered (0: the first): a later one may find done what an earlier one did unseen.
        package var attempt: Int

        package init(status: Int, reason: String = "", headers: HTTPHeaders = [:], body: Data = Data(), attempt: Int = 0) {
            (self.status, self.reason, self.headers, self.body, self.attempt) = (status, reason, headers, body, attempt)
        }
    }

    /// No answer came, after every attempt: the last failure (connection refused, DNS, TLS, timeout).
    package struct NoAnswer: Error, CustomStringConvertible {
        package var cause: any Error
        package var attempts: Int
        package var description: String { ConnectionFailure.describe(cause) }
    }

    /// Sends the request `make` builds for each attempt and returns the first answer that `isTransient` does not
    /// reject, or the last answer once the attempts are used up.
    ///
    /// - Throws: ``NoAnswer`` when no attempt got an answer; `CancellationError`; what `make` throws (a file
    ///   that cannot be read for the body).
    package func send(
        maxResponseSize: Int = 64 << 20, isTransient: (Response) -> Bool,
        _ make: (_ attempt: Int) throws -> HTTPClientRequest
    ) async throws -> Response {
        var attempt = 0
        while true {
            let request = try make(attempt)
            do {
                let response = try await http.execute(request, timeout: requestTimeout)
                let collected = try await response.body.collect(upTo: maxResponseSize)
                let r = Response(
                    status: Int(response.status.code), reason: response.status.reasonPhrase, headers: response.headers,
                    body: Data(collected.readableBytesView), attempt: attempt)
                if !isTransient(r) || attempt + 1 >= maxAttempts { return r }
            } catch let e as FileRequestBody.ReadFailed {
                throw e
            } catch {
                if Task.isCancelled || error is CancellationError { throw CancellationError() }
                if attempt + 1 >= maxAttempts || ConnectionFailure.isPermanent(error) {
                    throw NoAnswer(cause: error, attempts: attempt + 1)
                }
            }
            try await Task.sleep(for: backoff.delay(attempt: attempt))
            attempt += 1
        }
    }

    /// Downloads into the open file `fd` (an empty file): a `2xx` answer's body is written as it arrives, and an
    /// attempt that fails part-way (a reset, a body shorter than its `Content-Length`) starts the file over. Memory
    /// stays at one chunk of the body.
    ///
    /// - Returns: the answer (its `body` empty for a `2xx`) and the bytes written. A non-`2xx` answer is returned
    ///   with its body collected, after retries when `isTransient` says so; nothing is written for it.
    package func download(
        to fd: Int32, path: String, isTransient: (Response) -> Bool,
        _ make: (_ attempt: Int) throws -> HTTPClientRequest
    ) async throws -> (Response, Int64) {
        var attempt = 0
        while true {
            let request = try make(attempt)
            do {
                guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
                    throw FileRequestBody.ReadFailed(path: path, errno: errno)
                }
                let response = try await http.execute(request, timeout: requestTimeout)
                var r = Response(
                    status: Int(response.status.code), reason: response.status.reasonPhrase, headers: response.headers,
                    attempt: attempt)
                if (200..<300).contains(r.status) {
                    var written: Int64 = 0
                    for try await chunk in response.body {
                        try chunk.withUnsafeReadableBytes { b in
                            var done = 0
                            while done < b.count {
                                let n = write(fd, b.baseAddress! + done, b.count - done)
                                if n < 0 {
                                    if errno == EINTR { continue }
                                    throw FileRequestBody.ReadFailed(path: path, errno: errno)
                                }
                                done += n
                            }
                        }
                        written += Int64(chunk.readableBytes)
                    }
                    if let expected = r.headers.first(name: "content-length").flatMap(Int64.init), written < expected {
                        throw ShortBody(expected: expected, got: written)
                    }
                    return (r, written)
                }
                r.body = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
                if !isTransient(r) || attempt + 1 >= maxAttempts { return (r, 0) }
            } catch let e as FileRequestBody.ReadFailed {
                throw e
            } catch {
                if Task.isCancelled || error is CancellationError { throw CancellationError() }
                if attempt + 1 >= maxAttempts || ConnectionFailure.isPermanent(error) {
                    throw NoAnswer(cause: error, attempts: attempt + 1)
                }
            }
            try await Task.sleep(for: backoff.delay(attempt: attempt))
            attempt += 1
        }
    }

    /// A body that ended before its `Content-Length`: tried again like a reset.
    struct ShortBody: Error, CustomStringConvertible {
        var expected: Int64
        var got: Int64
        var description: String { "the body ended after \(got) of \(expected) bytes" }
    }
}
