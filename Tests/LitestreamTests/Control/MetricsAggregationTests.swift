import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamServer

/// `/metrics` stays bounded at 10,000 databases: past `PrometheusText.perDatabaseLimit` the families are summed
/// per replica and only the databases that need attention (failing, most behind) keep series of their own.
@Suite struct MetricsAggregationTests {
    static func statuses(_ n: Int) -> [ReplicationStatus] {
        (0..<n).map { i in
            var r = ReplicaStatus(name: "file", type: "file", location: "/replicas/tenant-\(i).db")
            r.txid = TXID(UInt64(i % 7 + 1))
            r.uploadBytes = 100
            r.lagSeconds = i % 500 == 0 ? Double(i) / 100 : 0
            var s = ReplicationStatus(path: "/data/tenants/tenant-\(i).db", localTXID: TXID(UInt64(i % 7 + 1)), replicas: [r])
            s.syncCount = 3
            if i % 40 == 0 { s.lastError = "disk full" }
            if i % 2 == 0 { s.connectionsClosed = true }
            return s
        }
    }

    @Test func tenThousandDatabasesGiveABoundedPage() {
        let text = PrometheusText.render(Self.statuses(10_000))
        // Per database, this was about 2.5 MB (fifteen series each).
        #expect(text.utf8.count < 64 << 10, "\(text.utf8.count) bytes")
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("litestream_databases{state=\"open\"} 5000"))
        #expect(lines.contains("litestream_databases{state=\"closed\"} 5000"))
        #expect(lines.contains("litestream_databases{state=\"failing\"} 250"))
        #expect(lines.contains("litestream_sync_count 30000"))
        #expect(lines.contains("litestream_upload_bytes{replica=\"file\",type=\"file\"} 1000000"))
        #expect(lines.contains("litestream_replica_lag_seconds{replica=\"file\",type=\"file\"} 95"))
        #expect(lines.filter { $0.hasPrefix("litestream_db_error{") }.count == PrometheusText.attentionLimit)
        let lagging = lines.filter { $0.hasPrefix("litestream_db_replica_lag_seconds{") }
        #expect(lagging.count == 19)  // every database with a lag (i % 500 == 0, but not 0)
        #expect(lagging.first?.contains("tenant-9500.db") == true, "the most behind first: \(lagging.prefix(2))")
        #expect(!lines.contains { $0.hasPrefix("litestream_db_txid{") })
    }

    @Test func aFewDatabasesKeepTheirOwnSeries() {
        let text = PrometheusText.render(Self.statuses(10))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("litestream_db_txid{db=") }.count == 10)
        #expect(lines.contains("litestream_replica_txid{db=\"/data/tenants/tenant-3.db\",replica=\"file\",type=\"file\"} 4"))
        #expect(!lines.contains { $0.hasPrefix("litestream_databases") })
    }
}
