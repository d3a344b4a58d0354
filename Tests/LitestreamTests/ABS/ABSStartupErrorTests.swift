import Foundation
import AsyncHTTPClient
import LTX
import NIOHTTP1
import Testing
import LitestreamHTTP

@testable import LitestreamABS
@testable import LitestreamClient
@testable import LitestreamCore

/// `checkAccess()` turns the Blob service's error answers into one line naming the container URL and what to fix,
/// with no key or SAS token in it, and sends what the service expects. The answers come from a canned server.
@Suite struct ABSStartupErrorTests {
    static let key = ABSConfigTests.key
    static let sas = ABSConfigTests.sas

    static func replica(_ endpoint: String, sas: Bool = false) throws -> ABSReplicaClient {
        var c = ABSConfiguration(accountName: "devstoreaccount1", container: "replicas", path: "db", endpoint: endpoint + "/devstoreaccount1")
        if sas { c.sasToken = Self.sas } else { c.accountKey = Self.key }
        c.maxAttempts = 3
        var r = try ABSReplicaClient(configuration: c, environment: [:])
        r.client.exchange.backoff = .init(baseDelay: .milliseconds(1), maxDelay: .milliseconds(5))
        return r
    }

    static func error(_ status: Int, _ code: String, _ message: String) -> CannedHTTPServer.Response {
        let xml = #"<?xml version="1.0" encoding="utf-8"?><Error><Code>\#(code)</Code><Message>\#(message)"#
            + "\nRequestId:bb5a5a21-001e-0001-6c41-7c5d0f000000\nTime:2026-01-15T09:30:00.0000000Z</Message></Error>"
        return .init(status: status, headers: [("Content-Type", "application/xml"), ("x-ms-error-code", code)], body: Array(xml.utf8))
    }

    /// The one-line message `checkAccess` throws when every request gets `response`, and the requests sent.
    static func message(for response: CannedHTTPServer.Response, sas: Bool = false) async throws -> (String, [CannedHTTPServer.Request]) {
        let server = try CannedHTTPServer { _, _ in response }
        defer { server.stop() }
        let r = try replica(server.endpoint, sas: sas)
        do {
            try await r.checkAccess()
        } catch let e as ABSError {
            let text = e.description
            #expect(!text.contains("\n"))
            #expect(!text.contains(Self.key) && !text.contains("SASSIGNATURE") && !text.contains("sig="), "\(text)")
            #expect(text.contains("\(server.endpoint)/devstoreaccount1/replicas"))
            return (text, server.requests)
        }
        Issue.record("checkAccess succeeded")
        return ("", server.requests)
    }

    @Test func wrongKey() async throws {
        let (m, requests) = try await Self.message(for: Self.error(403, "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature."))
        #expect(m.contains("HTTP 403 AuthenticationFailed: Server failed to authenticate the request."), "\(m)")
        #expect(m.contains("the service refused the account-key of account devstoreaccount1: check it, and that the clock is right"))
        // Not retried: a refusal is final.
        #expect(requests.count == 1)
        let q = try #require(requests.first)
        #expect(q.method == "GET")
        #expect(q.target == "/devstoreaccount1/replicas?restype=container&comp=list&prefix=db%2Fltx%2F0%2F&include=metadata&maxresults=1")
        #expect(q.headers["authorization"]?.hasPrefix("SharedKey devstoreaccount1:") == true)
        #expect(q.headers["x-ms-version"] == ABSClient.version && q.headers["x-ms-date"]?.hasSuffix(" GMT") == true)
    }

    @Test func missingContainer() async throws {
        let (m, _) = try await Self.message(for: Self.error(404, "ContainerNotFound", "The specified container does not exist."))
        #expect(m.contains("container replicas does not exist in account devstoreaccount1"), "\(m)")
    }

    /// A SAS token's refusal names the token as what to check, and the URL in the message has no query.
    @Test func sasWithoutPermission() async throws {
        let (m, requests) = try await Self.message(
            for: Self.error(403, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission."),
            sas: true)
        #expect(m.contains("AuthorizationPermissionMismatch") && m.contains("the sas-token may not do this on container replicas"), "\(m)")
        let q = try #require(requests.first)
        #expect(q.headers["authorization"] == nil)
        #expect(q.target.hasSuffix("&maxresults=1&" + Self.sas))
    }

    @Test func transientAnswersAreRetried() async throws {
        let server = try CannedHTTPServer { _, i in
            i < 2 ? .init(status: 503) : .init(status: 200, body: Array(#"<?xml version="1.0"?><EnumerationResults><Blobs/><NextMarker/></EnumerationResults>"#.utf8))
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
        } catch let e as ABSError {
            #expect(e.code == .connectionFailed)
            #expect(e.description.contains("connection refused"), "\(e)")
            #expect(e.description.contains("check that the endpoint http://127.0.0.1:\(port) is reachable"), "\(e)")
        }
    }
}
