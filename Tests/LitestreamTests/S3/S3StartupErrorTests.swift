import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// `checkAccess()` turns the real AWS error answers into one line naming the bucket, the endpoint and what to fix,
/// without a secret. The answers come from a canned server (moto does not check credentials).
@Suite struct S3StartupErrorTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzzSECRET"

    static func replica(_ server: CannedHTTPServer, region: String = "us-east-1") throws -> S3ReplicaClient {
        var c = S3Configuration(bucket: "my-bucket", path: "db", region: region, endpoint: server.endpoint)
        c.maxAttempts = 2
        c.accessKeyID = "AKIDEXAMPLE"
        c.secretAccessKey = secret
        var r = try S3ReplicaClient(configuration: c, environment: [:])
        r.client.baseDelay = .milliseconds(1)
        return r
    }

    /// The one-line message `checkAccess` throws when the server answers every request with `response`.
    static func message(for response: CannedHTTPServer.Response, region: String = "us-east-1") async throws -> String {
        let server = try CannedHTTPServer { _, _ in response }
        defer { server.stop() }
        let r = try replica(server, region: region)
        do {
            try await r.checkAccess()
        } catch let e as S3Error {
            let text = e.description
            #expect(!text.contains("\n"))
            #expect(!text.contains(secret))
            #expect(text.contains("my-bucket"))
            #expect(text.contains(server.endpoint))
            return text
        }
        Issue.record("checkAccess succeeded")
        return ""
    }

    @Test func wrongAccessKey() async throws {
        let m = try await Self.message(for: .s3Error(
            403, code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.",
            extra: "<AWSAccessKeyId>AKIDEXAMPLE</AWSAccessKeyId>"))
        #expect(m.contains("InvalidAccessKeyId") && m.contains("check access-key-id"))
    }

    @Test func wrongSecret() async throws {
        let m = try await Self.message(for: .s3Error(
            403, code: "SignatureDoesNotMatch",
            message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            extra: "<StringToSign>AWS4-HMAC-SHA256\n20260115T093000Z</StringToSign>"))
        #expect(m.contains("SignatureDoesNotMatch") && m.contains("check secret-access-key"))
    }

    @Test func accessDenied() async throws {
        let m = try await Self.message(for: .s3Error(403, code: "AccessDenied", message: "Access Denied"))
        #expect(m.contains("AccessDenied: Access Denied") && m.contains("refused access to bucket my-bucket"))
    }

    @Test func missingBucket() async throws {
        let m = try await Self.message(for: .s3Error(
            404, code: "NoSuchBucket", message: "The specified bucket does not exist",
            extra: "<BucketName>my-bucket</BucketName>"))
        #expect(m.contains("NoSuchBucket") && m.contains("bucket my-bucket does not exist at"))
    }

    @Test func wrongRegionRedirect() async throws {
        let m = try await Self.message(for: .s3Error(
            301, code: "PermanentRedirect",
            message: "The bucket you are attempting to access must be addressed using the specified endpoint.",
            extra: "<Endpoint>my-bucket.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>my-bucket</Bucket>",
            headers: [("x-amz-bucket-region", "eu-west-1")]))
        #expect(m.contains("bucket my-bucket is in region eu-west-1, not us-east-1: set region to eu-west-1"))
    }

    @Test func wrongRegionRedirectEndpointOnly() async throws {
        // Without the header, the region is read from the <Endpoint> host.
        let m = try await Self.message(for: .s3Error(
            301, code: "PermanentRedirect", message: "Use the specified endpoint.",
            extra: "<Endpoint>my-bucket.s3.ap-south-1.amazonaws.com</Endpoint>"))
        #expect(m.contains("is in region ap-south-1"))
    }

    @Test func wrongRegionSignature() async throws {
        let m = try await Self.message(for: .s3Error(
            400, code: "AuthorizationHeaderMalformed",
            message: "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-central-1'",
            extra: "<Region>eu-central-1</Region>"))
        #expect(m.contains("AuthorizationHeaderMalformed") && m.contains("set region to eu-central-1"))
    }

    @Test func clockSkew() async throws {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let serverDate = f.string(from: Date().addingTimeInterval(-(2 * 3600 + 5 * 60)))
        let m = try await Self.message(for: .s3Error(
            403, code: "RequestTimeTooSkewed",
            message: "The difference between the request time and the current time is too large.",
            extra: "<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>",
            headers: [("Date", serverDate)]))
        #expect(m.contains("RequestTimeTooSkewed"))
        // 2h 5m, give or take the request's own second.
        #expect(m.contains("the local clock is 2h 5m") && m.contains("ahead of the server's"), "\(m)")
    }

    @Test func headErrorWithoutBody() async throws {
        let server = try CannedHTTPServer { _, _ in .init(status: 403) }
        defer { server.stop() }
        let r = try Self.replica(server)
        await #expect(throws: S3Error.self) { try await r.client.headBucket() }
        do { try await r.client.headBucket() } catch let e as S3Error {
            #expect(e.description.contains("HTTP 403") && e.description.contains("refused access"))
        }
    }

    @Test func unreachableEndpoint() async throws {
        // A port nothing listens on: bind one, note it, close it.
        let server = try CannedHTTPServer { _, _ in .init(status: 200) }
        let port = server.port
        server.stop()
        var c = S3Configuration(bucket: "my-bucket", path: "db", region: "us-east-1", endpoint: "http://127.0.0.1:\(port)")
        c.maxAttempts = 2
        c.secretAccessKey = Self.secret
        c.accessKeyID = "AKIDEXAMPLE"
        var r = try S3ReplicaClient(configuration: c, environment: [:])
        r.client.baseDelay = .milliseconds(1)
        do {
            try await r.checkAccess()
            Issue.record("checkAccess succeeded")
        } catch let e as S3Error {
            #expect(e.code == "ConnectionFailed" && e.cause != nil)
            #expect(e.description.contains("http://127.0.0.1:\(port)"))
            #expect(e.description.contains("connection refused"), "\(e.description)")
            #expect(e.description.contains("my-bucket") && !e.description.contains(Self.secret))
        }
    }

    @Test func unknownHost() async throws {
        var c = S3Configuration(
            bucket: "my-bucket", path: "db", region: "us-east-1", endpoint: "http://no-such-host.invalid:9000")
        c.maxAttempts = 1
        var r = try S3ReplicaClient(
            configuration: c, environment: ["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": Self.secret])
        r.client.baseDelay = .milliseconds(1)
        do {
            try await r.checkAccess()
            Issue.record("checkAccess succeeded")
        } catch let e as S3Error {
            #expect(e.code == "ConnectionFailed")
            #expect(e.description.contains("no-such-host.invalid"), "\(e.description)")
            #expect(!e.description.contains("\n"))
        }
    }

    /// On AWS with no region configured, a wrong-region answer switches the client to the named region and the
    /// request is sent again at once.
    @Test func regionIsDetectedOnAWSWhenNotConfigured() async throws {
        var r = try S3ReplicaClient(
            configuration: S3Configuration(bucket: "my-bucket", path: "db"),
            environment: ["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"])
        r.client.baseDelay = .milliseconds(1)
        #expect(r.client.hostHeader == "my-bucket.s3.us-east-1.amazonaws.com")
        var hosts: [String] = []
        let value = try await r.client.withRetries("ListObjectsV2", key: nil) { n -> Int in
            hosts.append(r.client.hostHeader)
            if n == 0 && hosts.count == 1 {
                throw S3Error(
                    code: "PermanentRedirect", message: "", statusCode: 301, operation: "ListObjectsV2",
                    bucket: "my-bucket", key: nil, endpoint: "e", bucketRegion: "eu-west-1")
            }
            return 7
        }
        #expect(value == 7)
        #expect(hosts == ["my-bucket.s3.us-east-1.amazonaws.com", "my-bucket.s3.eu-west-1.amazonaws.com"])
        #expect(r.client.signer.region == "eu-west-1")
        #expect(r.location.contains("my-bucket.s3.eu-west-1.amazonaws.com"))

        // A configured region (or a custom endpoint) is never replaced: the error is reported.
        let fixed = try S3Client(
            configuration: S3Configuration(bucket: "b", path: "p", region: "us-east-1"),
            environment: ["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"])
        #expect(!fixed.adoptRegion("eu-west-1") && fixed.signer.region == "us-east-1")
        let custom = try S3Client(
            configuration: S3Configuration(bucket: "b", path: "p", endpoint: "http://minio:9000"),
            environment: ["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"])
        #expect(!custom.adoptRegion("eu-west-1"))
    }

    @Test func regionFromEndpointHost() {
        #expect(S3Client.region(fromEndpoint: "b.s3.eu-west-1.amazonaws.com") == "eu-west-1")
        #expect(S3Client.region(fromEndpoint: "s3-us-west-2.amazonaws.com") == "us-west-2")
        #expect(S3Client.region(fromEndpoint: "b.s3.amazonaws.com") == nil)
        #expect(S3Client.region(fromEndpoint: "minio.local") == nil)
    }
}
