import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// The retry loop: transient failures are retried in order, permanent ones reported at once.
@Suite struct S3RetryTests {
    static func client(maxAttempts: Int) throws -> S3Client {
        var c = S3Configuration(bucket: "b", path: "p", endpoint: "http://127.0.0.1:9")
        c.maxAttempts = maxAttempts
        var client = try S3Client(configuration: c, environment: ["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"])
        client.baseDelay = .milliseconds(1)
        return client
    }

    static func failure(_ code: String, _ status: Int?) -> S3Error {
        S3Error(code: code, message: "", statusCode: status, operation: "Op", bucket: "b", key: nil, endpoint: "e")
    }

    @Test func transientErrorsAreRetriedInOrder() async throws {
        let client = try Self.client(maxAttempts: 5)
        var seen: [Int] = []
        let failures = [Self.failure("SlowDown", 503), Self.failure("InternalError", 500), Self.failure("ConnectionFailed", nil)]
        let value = try await client.withRetries("Op", key: nil) { n in
            seen.append(n)
            if n < failures.count { throw failures[n] }
            return 42
        }
        #expect(value == 42 && seen == [0, 1, 2, 3])
    }

    @Test func permanentErrorsAndExhaustedAttemptsAreReported() async throws {
        let client = try Self.client(maxAttempts: 3)
        var calls = 0
        await #expect(throws: S3Error.self) {
            try await client.withRetries("Op", key: nil) { _ -> Int in
                calls += 1
                throw Self.failure("AccessDenied", 403)
            }
        }
        #expect(calls == 1)
        calls = 0
        await #expect(throws: S3Error.self) {
            try await client.withRetries("Op", key: nil) { _ -> Int in
                calls += 1
                throw Self.failure("SlowDown", 503)
            }
        }
        #expect(calls == 3)
        #expect(!Self.failure("NoSuchBucket", 404).isTransient && Self.failure("x", 502).isTransient)
        let backoffs = (0..<12).map { client.backoff(attempt: $0) }
        #expect(backoffs.allSatisfy { $0 <= client.maxDelay && $0 > .zero })
    }
}
