import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// SSE-C (customer keys) and SSE-KMS: validation, the headers each request carries, signing (botocore goldens),
/// and that the key never shows in a message.
@Suite struct S3SSETests {
    /// The 32-byte key 0x00…0x1f, as in the botocore goldens.
    static let key = Data(0..<32).base64EncodedString()

    static func configuration(endpoint: String = "http://127.0.0.1:9000") -> S3Configuration {
        var c = S3Configuration(bucket: "bkt", path: "db", region: "us-east-1", endpoint: endpoint)
        c.sseCustomerKey = key
        c.maxAttempts = 1
        return c
    }

    @Test func validation() throws {
        func failure(_ change: (inout S3Configuration) -> Void) -> String? {
            var c = Self.configuration()
            change(&c)
            do {
                try c.validate()
                return nil
            } catch {
                let text = "\(error)"
                #expect(!text.contains(c.sseCustomerKey ?? "\u{0}"))
                return text
            }
        }
        #expect(failure { _ in } == nil)
        #expect(try Self.configuration().sseCustomer()?.algorithm == "AES256")
        #expect(failure { $0.sseCustomerKey = "not base64!" }?.contains("not valid base64") == true)
        #expect(failure { $0.sseCustomerKey = Data(0..<16).base64EncodedString() }?.contains("decodes to 16 bytes") == true)
        #expect(failure { $0.sseCustomerKey = nil; $0.sseCustomerAlgorithm = "AES256" }?.contains("without sse-customer-key") == true)
        #expect(failure { $0.sseCustomerAlgorithm = "aws:kms" }?.contains("only AES256") == true)
        #expect(failure { $0.sseKMSKeyID = "k" }?.contains("cannot both be set") == true)
        #expect(failure { $0.endpoint = "http://s3.example.com" }?.contains("needs an https endpoint") == true)
        #expect(failure { $0.endpoint = "https://s3.example.com" } == nil)
        #expect(failure { $0.endpoint = "http://10.1.2.3:9000" } == nil)
        #expect(failure { $0.endpoint = "http://localhost:9000" } == nil)
        #expect(failure { $0.endpoint = nil } == nil)
    }

    @Test func descriptionsHideSecrets() throws {
        var c = Self.configuration()
        c.accessKeyID = "AKIDEXAMPLE"
        c.secretAccessKey = "SECRETSECRETSECRET"
        c.sessionToken = "TOKENTOKENTOKEN"
        let r = try S3ReplicaClient(configuration: c, environment: [:])
        let rawKeyB64 = Data(0..<32).base64EncodedString()
        for text in [
            "\(c)", String(reflecting: c), "\(r)", String(reflecting: r), "\(r.client)", String(reflecting: r.client),
            r.location, "\(r.client.signer)", String(reflecting: r.client.signer),
        ] {
            #expect(!text.contains(rawKeyB64), "\(text)")
            #expect(!text.contains("SECRETSECRETSECRET"), "\(text)")
            #expect(!text.contains("TOKENTOKENTOKEN"), "\(text)")
        }
        #expect("\(c)".contains("sse-customer-key: <redacted>"))
    }

    /// The SSE-C headers are exactly those of the botocore golden (which is signed with them).
    @Test func headersMatchTheGolden() throws {
        let golden = try S3SignerTests.loadGoldens().cases.first { $0.name == "put-sse-c" }
        let expected = try #require(golden).headers.filter { $0[0].contains("customer") }.map { "\($0[0]): \($0[1])" }
        let ours = try #require(try Self.configuration().sseCustomer()).headers.map { "\($0.name): \($0.value)" }
        #expect(ours == expected)
        #expect(expected.count == 3)
    }

    /// Every request that reads or writes object data carries SSE-C; listing and deleting do not.
    @Test func requestsCarryTheHeadersTheyNeed() async throws {
        let server = try CannedHTTPServer { request, _ in
            let t = request.target
            switch request.method {
            case "POST" where t.hasSuffix("?uploads="):
                return .init(status: 200, body: Array(
                    "<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>".utf8))
            case "POST" where t.contains("uploadId="):
                return .init(status: 200, body: Array(
                    "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>".utf8))
            case "POST":
                return .init(status: 200, body: Array("<DeleteResult></DeleteResult>".utf8))
            case "PUT": return .init(status: 200, headers: [("ETag", "\"p\"")])
            case "GET" where t.contains("list-type=2"):
                return .init(status: 200, body: Array("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>".utf8))
            case "GET": return .init(status: 200, headers: [("ETag", "\"e\"")], body: [1, 2, 3])
            case "HEAD": return .init(status: 200, headers: [("x-amz-meta-litestream-timestamp", "2026-01-01T00:00:00Z")])
            default: return .init(status: 500)
            }
        }
        defer { server.stop() }
        var r = try S3ReplicaClient(
            configuration: Self.configuration(endpoint: server.endpoint),
            environment: ["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"])
        r.timestampsFromMetadata = false
        try await r.writeLTXFile(level: 0, minTXID: 1, maxTXID: 1, timestamp: 0) { sink in
            try [UInt8](repeating: 1, count: 100).withUnsafeBytes { try sink($0) }
        }
        try await r.writeLTXFile(level: 9, minTXID: 1, maxTXID: 2, timestamp: 0) { sink in
            try [UInt8](repeating: 2, count: S3Configuration.minimumPartSize + 10).withUnsafeBytes { try sink($0) }
        }
        _ = try await r.openLTXFile(LTXFileInfo(level: 0, minTXID: 1, maxTXID: 1, size: 3, createdAt: 0))
        _ = try await r.client.headObject(key: "db/0000/0000000000000001-0000000000000001.ltx")
        _ = try await r.ltxFiles(level: 0)
        try await r.deleteLTXFiles([LTXFileInfo(level: 0, minTXID: 1, maxTXID: 1, size: 3, createdAt: 0)])

        let golden = try #require(try S3SignerTests.loadGoldens().cases.first { $0.name == "put-sse-c" })
        let md5 = golden.headers.first { $0[0] == "x-amz-server-side-encryption-customer-key-md5" }?[1]
        var seen: [String: Bool] = [:]
        for q in server.requests {
            let name: String
            switch (q.method, q.target) {
            case ("PUT", let t) where t.contains("partNumber="): name = "UploadPart"
            case ("PUT", _): name = "PutObject"
            case ("POST", let t) where t.hasSuffix("?uploads="): name = "CreateMultipartUpload"
            case ("POST", let t) where t.contains("uploadId="): name = "CompleteMultipartUpload"
            case ("POST", _): name = "DeleteObjects"
            case ("GET", let t) where t.contains("list-type=2"): name = "ListObjectsV2"
            case ("GET", _): name = "GetObject"
            case ("HEAD", _): name = "HeadObject"
            default: name = "\(q.method) \(q.target)"
            }
            let has = q.headers["x-amz-server-side-encryption-customer-key"] != nil
            seen[name] = has
            if has {
                #expect(q.headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256")
                #expect(q.headers["x-amz-server-side-encryption-customer-key"] == Self.key)
                #expect(q.headers["x-amz-server-side-encryption-customer-key-md5"] == md5)
                // Signed, as every x-amz-* header must be.
                #expect(q.headers["authorization"]?.contains("x-amz-server-side-encryption-customer-key-md5") == true)
            }
        }
        #expect(seen == [
            "PutObject": true, "CreateMultipartUpload": true, "UploadPart": true, "CompleteMultipartUpload": true,
            "GetObject": true, "HeadObject": true, "ListObjectsV2": false, "DeleteObjects": false,
        ])
    }

    @Test func kmsSendsTheEncryptionHeader() throws {
        var c = S3Configuration(bucket: "bkt", path: "db", region: "us-east-1", endpoint: "http://127.0.0.1:9000")
        c.sseKMSKeyID = "arn:aws:kms:us-east-1:111122223333:key/abcd"
        let client = try S3Client(configuration: c, environment: ["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"])
        let h = client.uploadHeaders(metadata: [:]).map { "\($0.name): \($0.value)" }
        #expect(h.contains("x-amz-server-side-encryption: aws:kms"))
        #expect(h.contains("x-amz-server-side-encryption-aws-kms-key-id: arn:aws:kms:us-east-1:111122223333:key/abcd"))
    }

    /// moto accepts (and ignores) SSE-C headers: a round trip through the real request path.
    @Test(.enabled(if: S3TestServer.enabled, "needs LITESTREAM_S3_ENDPOINT (scripts/test.sh)"))
    func roundTripOnMoto() async throws {
        let bucket = try await S3TestServer.makeBucket()
        var c = try S3TestServer.configuration(bucket: bucket)
        c.sseCustomerKey = Self.key
        var r = try S3ReplicaClient(configuration: c, environment: S3TestServer.environment)
        r.timestampsFromMetadata = true
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0) }
        let info = try await r.writeLTXFile(level: 0, minTXID: 1, maxTXID: 1, timestamp: 1_795_752_773_217) { sink in
            try bytes.withUnsafeBytes { try sink($0) }
        }
        #expect(try await r.ltxFiles(level: 0).map(\.createdAt) == [1_795_752_773_217])
        #expect(S3ServerTests.readAll(try await r.openLTXFile(info)) == bytes)
    }
}
