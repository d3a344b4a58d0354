import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamS3

/// Request counts (issue 17): their JSON, and how the S3 client classifies what it sends.
@Suite struct RequestCountsTests {
    /// The status JSON: `requests` round-trips, JSON without it (an older version's) still decodes, and counts of
    /// kinds a later version adds do not break this one.
    @Test func requestCountsInStatusJSON() throws {
        var status = ReplicationStatus(path: "/db", replicas: [ReplicaStatus(name: "s3", type: "s3", location: "s3://b/db")])
        var counts = RequestCounts()
        counts.put = 3
        counts[.list] = 2
        status.replicas[0].requests = counts
        let json = try JSONEncoder().encode(status)
        #expect(try JSONDecoder().decode(ReplicationStatus.self, from: json) == status)
        #expect(String(decoding: json, as: UTF8.self).contains("\"requests\":{"))

        var old = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        var replicas = try #require(old["replicas"] as? [[String: Any]])
        replicas[0].removeValue(forKey: "requests")
        old["replicas"] = replicas
        let decoded = try JSONDecoder().decode(ReplicationStatus.self, from: try JSONSerialization.data(withJSONObject: old))
        #expect(decoded.replicas[0].requests == nil)

        let partial = try JSONDecoder().decode(RequestCounts.self, from: Data(#"{"put": 4, "copy": 9}"#.utf8))
        #expect(partial.put == 4 && partial.total == 4)
    }

    /// Kinds as S3 bills them: a GET of the bucket lists, a POST is a multipart step unless it deletes.
    @Test func s3RequestKinds() {
        #expect(S3Client.kind(method: "GET", key: nil, query: [("list-type", "2")]) == .list)
        #expect(S3Client.kind(method: "GET", key: nil, query: [("uploads", "")]) == .list)
        #expect(S3Client.kind(method: "GET", key: "db/0000/x.ltx", query: []) == .get)
        #expect(S3Client.kind(method: "PUT", key: "db/0000/x.ltx", query: []) == .put)
        #expect(S3Client.kind(method: "PUT", key: "k", query: [("partNumber", "1"), ("uploadId", "u")]) == .put)
        #expect(S3Client.kind(method: "POST", key: "k", query: [("uploads", "")]) == .put)
        #expect(S3Client.kind(method: "POST", key: nil, query: [("delete", "")]) == .delete)
        #expect(S3Client.kind(method: "DELETE", key: "k", query: [("uploadId", "u")]) == .delete)
        #expect(S3Client.kind(method: "HEAD", key: "k", query: []) == .head)
        #expect(S3Client.kind(method: "HEAD", key: nil, query: []) == .head)
    }
}
