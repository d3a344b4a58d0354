import Foundation
import AsyncHTTPClient
import LTX
import NIOHTTP1
import Testing
import LitestreamHTTP

@testable import LitestreamClient
@testable import LitestreamCore
@testable import LitestreamOSS

/// `checkAccess()` turns OSS's error answers into one line naming the bucket, the endpoint and what to fix, with no
/// secret in it, and sends a V4-signed ListObjectsV2. The answers come from a canned server (bodies in the form of
/// alibabacloud-oss-go-sdk-v2's mock tests).
@Suite struct OSSStartupErrorTests {
    static let secret = OSSConfigTests.secret

    static func replica(_ endpoint: String) throws -> OSSReplicaClient {
        var c = OSSConfiguration(bucket: "bkt", path: "db", endpoint: endpoint, accessKeyID: "LTAIexample", accessKeySecret: Self.secret)
        c.maxAttempts = 3
        var r = try OSSReplicaClient(configuration: c, environment: [:])
        r.client.exchange.backoff = .init(baseDelay: .milliseconds(1), maxDelay: .milliseconds(5))
        return r
    }

    static func error(_ status: Int, _ code: String, _ message: String) -> CannedHTTPServer.Response {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error>
              <Code>\(code)</Code>
              <Message>\(message)</Message>
              <RequestId>5C3D9175B6FC201293AD****</RequestId>
              <HostId>bkt.oss-cn-hangzhou.aliyuncs.com</HostId>
              <EC>0002-00000040</EC>
            </Error>
            """
        return .init(status: status, headers: [("Content-Type", "application/xml")], body: Array(xml.utf8))
    }

    static func message(for response: CannedHTTPServer.Response) async throws -> (String, [CannedHTTPServer.Request]) {
        let server = try CannedHTTPServer { _, _ in response }
        defer { server.stop() }
        let r = try replica(server.endpoint)
        do {
            try await r.checkAccess()
        } catch let e as OSSError {
            let text = e.description
            #expect(!text.contains("\n") && !text.contains(Self.secret), "\(text)")
            #expect(text.contains("bucket bkt") && text.contains(server.endpoint), "\(text)")
            return (text, server.requests)
        }
        Issue.record("checkAccess succeeded")
        return ("", server.requests)
    }

    @Test func wrongSecret() async throws {
        let (m, requests) = try await Self.message(for: Self.error(403, "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."))
        #expect(m.contains("HTTP 403 SignatureDoesNotMatch") && m.contains("check secret-access-key (or OSS_ACCESS_KEY_SECRET) and region"), "\(m)")
        #expect(requests.count == 1)
        let q = try #require(requests.first)
        #expect(q.target == "/bkt/?list-type=2&prefix=db%2F&encoding-type=url&max-keys=1")
        #expect(q.headers["authorization"]?.hasPrefix("OSS4-HMAC-SHA256 Credential=LTAIexample/") == true)
        #expect(q.headers["authorization"]?.contains("/cn-hangzhou/oss/aliyun_v4_request,Signature=") == true)
        #expect(q.headers["x-oss-content-sha256"] == "UNSIGNED-PAYLOAD")
    }

    @Test func wrongAccessKeyID() async throws {
        let (m, _) = try await Self.message(for: Self.error(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records."))
        #expect(m.contains("InvalidAccessKeyId") && m.contains("check access-key-id"), "\(m)")
    }

    @Test func missingBucket() async throws {
        let (m, _) = try await Self.message(for: Self.error(404, "NoSuchBucket", "The specified bucket does not exist."))
        #expect(m.contains("bucket bkt does not exist at"), "\(m)")
    }

    @Test func transientAnswersAreRetried() async throws {
        let server = try CannedHTTPServer { _, i in
            i < 2 ? .init(status: 500) : .init(status: 200, body: Array("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>".utf8))
        }
        defer { server.stop() }
        let r = try Self.replica(server.endpoint)
        try await r.checkAccess()
        #expect(server.requests.count == 3)
        #expect(r.requestCounts?[.list] == 3)
    }

    @Test func unreachableEndpoint() async throws {
        let port = try TestEnvironment.freeLoopbackPort()
        let r = try Self.replica("http://127.0.0.1:\(port)")
        do {
            try await r.checkAccess()
            Issue.record("checkAccess succeeded")
        } catch let e as OSSError {
            #expect(e.code == .connectionFailed)
            #expect(e.description.contains("connection refused") && e.description.contains("bucket bkt"), "\(e)")
            #expect(e.description.contains("check that the endpoint http://127.0.0.1:\(port) is reachable"), "\(e)")
        }
    }
}
