public import LitestreamClient
import LitestreamCore
import Foundation
import LTX
import Metrics
public import ServiceLifecycle
import Synchronization

/// Publishes every database's and replica's status to swift-metrics (whatever backend the app bootstrapped:
/// Prometheus, StatsD, OpenTelemetry…), sampling `ReplicationServer.statuses()` periodically.
///
/// | Metric | Kind | Dimensions |
/// |---|---|---|
/// | `litestream_db_txid` | gauge | db |
/// | `litestream_db_last_sync_timestamp_seconds` | gauge | db |
/// | `litestream_sync_count`, `litestream_sync_error_count`, `litestream_checkpoint_count` | counter | db |
/// | `litestream_checkpoint_seconds_total` | gauge (a running total) | db |
/// | `litestream_replica_txid`, `litestream_replica_lag_seconds`, `litestream_replica_lag_bytes`, `litestream_replica_pending_files`, `litestream_replica_last_upload_timestamp_seconds` | gauge | db, replica |
/// | `litestream_upload_bytes`, `litestream_replica_error_count` | counter | db, replica |
/// | `litestream_replica_operation_total` | counter | db, replica, operation (`PUT`, `GET`, `LIST`, `DELETE`, `HEAD`) |
///
/// The same names (with `type` on replica metrics) are what `MetricsServer` serves at `/metrics`.
/// `litestream_replica_operation_total` has Litestream's name and `operation` label, but counts HTTP requests
/// (``RequestCounts``, what S3 bills), and only for replicas that send them (S3).
public final class ReplicationMetrics: Service {
    private let server: ReplicationServer
    private let interval: Duration
    /// The bootstrapped backend, unless a test brings its own.
    private let factory: any MetricsFactory
    /// The last counter values seen, to turn the statuses' running totals into increments.
    private let last = Mutex<[String: Int64]>([:])

    /// - Parameters:
    ///   - server: the databases to sample.
    ///   - interval: how often.
    public convenience init(server: ReplicationServer, interval: Duration = .seconds(1)) {
        self.init(server: server, interval: interval, factory: MetricsSystem.factory)
    }

    init(server: ReplicationServer, interval: Duration = .seconds(1), factory: any MetricsFactory) {
        self.server = server
        self.interval = interval
        self.factory = factory
    }

    /// Samples until graceful shutdown or cancellation (and once more then).
    public func run() async {
        try? await cancelWhenGracefulShutdown {
            while true {
                self.sample()
                try await Task.sleep(for: self.interval)
            }
        }
        sample()
    }

    /// Publishes the current statuses once.
    public func sample() { record(server.statuses()) }

    /// Publishes `statuses`.
    func record(_ statuses: [ReplicationStatus]) {
        for s in statuses {
            let db = [("db", s.path)]
            gauge("litestream_db_txid", dimensions: db).record(Double(s.localTXID.rawValue))
            if let at = s.lastSyncAt {
                gauge("litestream_db_last_sync_timestamp_seconds", dimensions: db).record(Double(at) / 1000)
            }
            count("litestream_sync_count", db, s.syncCount)
            count("litestream_sync_error_count", db, s.syncErrorCount)
            count("litestream_checkpoint_count", db, s.checkpointCount)
            gauge("litestream_checkpoint_seconds_total", dimensions: db).record(s.checkpointSeconds)
            for r in s.replicas {
                let d = [("db", s.path), ("replica", r.name)]
                gauge("litestream_replica_txid", dimensions: d).record(Double(r.txid.rawValue))
                gauge("litestream_replica_lag_seconds", dimensions: d).record(r.lagSeconds)
                gauge("litestream_replica_lag_bytes", dimensions: d).record(Double(r.lagBytes))
                gauge("litestream_replica_pending_files", dimensions: d).record(Double(r.pendingFiles))
                if let at = r.lastUploadAt {
                    gauge("litestream_replica_last_upload_timestamp_seconds", dimensions: d).record(Double(at) / 1000)
                }
                count("litestream_upload_bytes", d, r.uploadBytes)
                count("litestream_replica_error_count", d, r.errorCount)
                if let requests = r.requests {
                    for kind in RequestCounts.Kind.allCases {
                        count("litestream_replica_operation_total", d + [("operation", kind.rawValue)], requests[kind])
                    }
                }
            }
        }
    }

    private func count(_ label: String, _ dimensions: [(String, String)], _ total: Int64) {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        let increment = last.withLock { l -> Int64 in
            let previous = l[key] ?? 0
            l[key] = total
            // A restarted replication starts its totals again from zero.
            return total >= previous ? total - previous : total
        }
        if increment > 0 { Counter(label: label, dimensions: dimensions, factory: factory).increment(by: increment) }
    }

    private func gauge(_ label: String, dimensions: [(String, String)]) -> Gauge {
        Gauge(label: label, dimensions: dimensions, factory: factory)
    }
}

/// The Prometheus text exposition (format 0.0.4) of a server's statuses.
public enum PrometheusText {
    public static func render(_ statuses: [ReplicationStatus]) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples {
                let labels = s.labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
                out += "\(name){\(labels)} \(format(s.value))\n"
            }
        }
        let dbs = statuses.map { (labels: [("db", $0.path)], status: $0) }
        let replicas = statuses.flatMap { s in
            s.replicas.map { (labels: [("db", s.path), ("replica", $0.name), ("type", $0.type)], replica: $0) }
        }
        family("litestream_db_txid", "gauge", "The newest TXID written locally.",
            dbs.map { ($0.labels, Double($0.status.localTXID.rawValue)) })
        family("litestream_db_last_sync_timestamp_seconds", "gauge", "When the last local sync finished (Unix time).",
            dbs.compactMap { d in d.status.lastSyncAt.map { (d.labels, Double($0) / 1000) } })
        family("litestream_sync_count", "counter", "Local syncs since replication started.",
            dbs.map { ($0.labels, Double($0.status.syncCount)) })
        family("litestream_sync_error_count", "counter", "Failed local syncs since replication started.",
            dbs.map { ($0.labels, Double($0.status.syncErrorCount)) })
        family("litestream_checkpoint_count", "counter", "Checkpoints run by the replicator since it started.",
            dbs.map { ($0.labels, Double($0.status.checkpointCount)) })
        family("litestream_checkpoint_seconds_total", "counter", "Time spent in those checkpoints.",
            dbs.map { ($0.labels, $0.status.checkpointSeconds) })
        family("litestream_db_error", "gauge", "1 while the database's last sync (or start) failed.",
            dbs.map { ($0.labels, $0.status.lastError == nil ? 0 : 1) })
        family("litestream_replica_txid", "gauge", "The newest TXID the replica holds.",
            replicas.map { ($0.labels, Double($0.replica.txid.rawValue)) })
        family("litestream_replica_lag_seconds", "gauge", "How long the oldest change the replica lacks has waited.",
            replicas.map { ($0.labels, $0.replica.lagSeconds) })
        family("litestream_replica_lag_bytes", "gauge", "Bytes of local LTX files the replica lacks.",
            replicas.map { ($0.labels, Double($0.replica.lagBytes)) })
        family("litestream_replica_pending_files", "gauge", "Local LTX files the replica lacks.",
            replicas.map { ($0.labels, Double($0.replica.pendingFiles)) })
        family("litestream_replica_last_upload_timestamp_seconds", "gauge", "When the last upload succeeded (Unix time).",
            replicas.compactMap { r in r.replica.lastUploadAt.map { (r.labels, Double($0) / 1000) } })
        family("litestream_upload_bytes", "counter", "Bytes uploaded to the replica since replication started.",
            replicas.map { ($0.labels, Double($0.replica.uploadBytes)) })
        family("litestream_replica_error_count", "counter", "Failed replica calls since replication started.",
            replicas.map { ($0.labels, Double($0.replica.errorCount)) })
        family("litestream_replica_operation_total", "counter", "Requests sent to the replica since replication started, by kind.",
            replicas.flatMap { r in
                RequestCounts.Kind.allCases.compactMap { kind in
                    r.replica.requests.map { (r.labels + [("operation", kind.rawValue)], Double($0[kind])) }
                }
            })
        return out
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    private static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
