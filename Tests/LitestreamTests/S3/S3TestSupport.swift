import Foundation
import Testing

@testable import Litestream

/// The S3 test server (moto, started by scripts/test.sh; `LITESTREAM_S3_ENDPOINT`).
enum S3TestServer {
    /// Run S3 server tests when a server is configured, and always on CI (where a missing server fails them).
    static var enabled: Bool { TestEnvironment.s3Endpoint != nil || TestEnvironment.isCI }

    static func endpoint() throws -> String {
        guard let e = TestEnvironment.s3Endpoint else {
            throw TestEnvironment.Failure.missingTool(
                "LITESTREAM_S3_ENDPOINT is not set (CI=true): run the tests with scripts/test.sh")
        }
        return e
    }

    /// The credentials the tests use (moto accepts any).
    static let environment = ["AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"]

    /// Creates a new bucket (an unsigned `PUT /<bucket>`, which moto accepts) and returns its name.
    static func makeBucket(_ name: String = "t") async throws -> String {
        let bucket = "\(name)-\(UUID().uuidString.lowercased().prefix(13))"
        try await S3Client(configuration: configuration(bucket: bucket), environment: environment).createBucket()
        return bucket
    }

    static func configuration(bucket: String, path: String = "db") throws -> S3Configuration {
        var c = S3Configuration(bucket: bucket, path: path, endpoint: try endpoint())
        c.maxAttempts = 3
        return c
    }

    static func replica(bucket: String, path: String = "db") throws -> S3ReplicaClient {
        try S3ReplicaClient(configuration: configuration(bucket: bucket, path: path), environment: environment)
    }

    /// `s3://bucket/path?endpoint=…` as the CLIs take it.
    static func url(bucket: String, path: String = "db") throws -> String {
        "s3://\(bucket)/\(path)?endpoint=\(try endpoint())&region=us-east-1&force-path-style=true"
    }
}
