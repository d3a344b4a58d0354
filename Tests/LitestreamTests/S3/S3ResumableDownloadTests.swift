import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

#if canImport(Glibc)
import Glibc
#endif

/// A GET whose body is cut mid-transfer continues with `Range: bytes=<received>-` and `If-Match: <ETag>`.
@Suite struct S3ResumableDownloadTests {
    static let body: [UInt8] = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ ($0 >> 8)) }
    static let etag = "\"6f1ed002ab5595859014ebf0951522d9\""
    static let file = LTXFileInfo(level: 0, minTXID: 1, maxTXID: 1, size: Int64(body.count), createdAt: 0)

    static func replica(_ server: CannedHTTPServer) throws -> S3ReplicaClient {
        var c = S3Configuration(bucket: "bkt", path: "db", region: "us-east-1", endpoint: server.endpoint)
        c.maxAttempts = 3
        var r = try S3ReplicaClient(configuration: c, environment: ["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"])
        r.client.baseDelay = .milliseconds(1)
        return r
    }

    /// The first GET is cut after `cut` bytes; later ones answer with `later`.
    static func server(cut: Int, later: @escaping @Sendable (CannedHTTPServer.Request) -> CannedHTTPServer.Response)
        throws -> CannedHTTPServer
    {
        try CannedHTTPServer { request, index in
            if index == 0 {
                return .init(status: 200, headers: [("ETag", Self.etag)], body: Self.body, cutAfter: cut)
            }
            return later(request)
        }
    }

    @Test func resumesFromWhereTheBodyWasCut() async throws {
        let half = Self.body.count / 2
        let server = try Self.server(cut: half) { request in
            guard let range = request.headers["range"], range.hasPrefix("bytes="),
                let from = Int(range.dropFirst(6).dropLast())
            else { return .init(status: 200, headers: [("ETag", Self.etag)], body: Self.body) }
            return .init(
                status: 206,
                headers: [("ETag", Self.etag), ("Content-Range", "bytes \(from)-\(Self.body.count - 1)/\(Self.body.count)")],
                body: Array(Self.body[from...]))
        }
        defer { server.stop() }
        let reader = try await Self.replica(server).openLTXFile(Self.file)
        #expect(S3ServerTests.readAll(reader) == Self.body)
        let requests = server.requests
        #expect(requests.count == 2)
        #expect(requests[0].headers["range"] == nil)
        // Exactly the bytes not yet received, and only if the object is still the same one.
        let resumedFrom = Int(requests[1].headers["range"]?.dropFirst(6).dropLast() ?? "") ?? -1
        #expect(resumedFrom > 0 && resumedFrom <= half)
        #expect(requests[1].headers["if-match"] == Self.etag)
        #expect(requests.allSatisfy { $0.target == "/bkt/db/0000/0000000000000001-0000000000000001.ltx" })
    }

    @Test func aChangedObjectIsReported() async throws {
        let server = try Self.server(cut: Self.body.count / 3) { _ in
            .s3Error(412, code: "PreconditionFailed", message: "At least one of the pre-conditions you specified did not hold")
        }
        defer { server.stop() }
        do {
            _ = try await Self.replica(server).openLTXFile(Self.file)
            Issue.record("the download succeeded")
        } catch let e as S3Error {
            #expect(e.code == "ObjectChanged" && e.statusCode == 412)
            #expect(e.description.contains(Self.etag) && e.description.contains("replaced while it was being read"))
        }
        #expect(server.requests.count == 2)  // not retried: another try would splice two objects
    }

    @Test func aServerIgnoringTheRangeStartsOver() async throws {
        let server = try Self.server(cut: 1000) { _ in .init(status: 200, headers: [("ETag", Self.etag)], body: Self.body) }
        defer { server.stop() }
        let reader = try await Self.replica(server).openLTXFile(Self.file)
        #expect(S3ServerTests.readAll(reader) == Self.body)
    }
}
