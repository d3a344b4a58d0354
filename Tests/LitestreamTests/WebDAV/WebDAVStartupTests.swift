import Foundation
import Testing
import LitestreamHTTP

@testable import LitestreamWebDAV

/// The start-up check against servers that are not (or not yet) a working WebDAV server, scripted with
/// ``CannedHTTPServer``: no wsgidav needed.
@Suite(.ownThreads) struct WebDAVStartupTests {
    static let multistatus = Array("""
        <?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/</D:href><D:propstat><D:prop>\
        <D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\
        </D:response></D:multistatus>
        """.utf8)

    func check(_ server: CannedHTTPServer) async throws {
        var c = try WebDAVConfiguration.parse(url: "webdav://u:SECRET@" + server.endpoint.dropFirst("http://".count) + "/db")
        c.maxAttempts = 3
        var client = try WebDAVReplicaClient(configuration: c)
        client.client.backoff.baseDelay = .milliseconds(1)
        try await client.checkAccess()
    }

    @Test(arguments: [405, 501, 200])
    func aPlainHTTPServerIsNotWebDAV(status: Int) async throws {
        let server = try CannedHTTPServer { _, _ in .init(status: status, body: Array("<html>hello</html>".utf8)) }
        defer { server.stop() }
        let error = try await #require(throws: WebDAVError.self) { try await check(server) }
        #expect(error.code == .notWebDAV, "\(error)")
        #expect(error.description.contains(server.endpoint + "/") && error.description.contains("WebDAV"), "\(error)")
        #expect(!error.description.contains("SECRET"))
    }

    @Test func transientAnswersAreRetriedAndBasicAuthIsSent() async throws {
        let server = try CannedHTTPServer { request, n in
            guard request.method == "PROPFIND", request.headers["depth"] == "0",
                request.headers["authorization"] == "Basic " + Data("u:SECRET".utf8).base64EncodedString()
            else { return .init(status: 400) }
            return n < 2 ? .init(status: 503) : .init(status: 207, body: Self.multistatus)
        }
        defer { server.stop() }
        try await check(server)
    }
}
