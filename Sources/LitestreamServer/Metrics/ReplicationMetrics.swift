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
///
/// Up to ``perDatabaseLimit`` databases, every database has its series (about fifteen, and five more per replica
/// that counts requests). Past it, a process of thousands of tenant databases would serve megabytes at each scrape
/// and a Prometheus would store series by the hundred thousand, so the families lose their `db` label and are
/// summed (counters, bytes, files) or maximised (lag) over the databases, per replica name; `litestream_databases`
/// counts the databases by state; and only the databases that need attention keep a series of their own, at most
/// ``attentionLimit`` of them: `litestream_db_error` (failing, by path) and `litestream_db_replica_lag_seconds`
/// (the most behind).
public enum PrometheusText {
    /// Above this many databases, `/metrics` aggregates (see the type's documentation).
    public static let perDatabaseLimit = 1_000
    /// In aggregated form, at most this many databases get series of their own in each attention family.
    public static let attentionLimit = 100

    /// - Parameters:
    ///   - statuses: the databases.
    ///   - perDatabaseLimit: above this many databases, aggregate.
    public static func render(_ statuses: [ReplicationStatus], perDatabaseLimit: Int = perDatabaseLimit) -> String {
        statuses.count > perDatabaseLimit ? renderAggregated(statuses) : renderPerDatabase(statuses)
    }

    /// One family in the text format.
    private static func family(_ out: inout String, _ name: String, _ type: String, _ help: String,
                               _ samples: [(labels: [(String, String)], value: Double)]) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        for s in samples {
            let labels = s.labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
            out += labels.isEmpty ? "\(name) \(format(s.value))\n" : "\(name){\(labels)} \(format(s.value))\n"
        }
    }

    /// A bounded rendering, whatever the number of databases.
    static func renderAggregated(_ statuses: [ReplicationStatus]) -> String {
        var out = ""
        let failing = statuses.filter { $0.lastError != nil }
        let closed = statuses.filter { $0.connectionsClosed == true }.count
        family(&out, "litestream_databases", "gauge", "Databases replicated, by state (open, closed while idle, failing).", [
            ([("state", "open")], Double(statuses.count - closed)), ([("state", "closed")], Double(closed)),
            ([("state", "failing")], Double(failing.count)),
        ])
        func total(_ f: (ReplicationStatus) -> Int64) -> Double { Double(statuses.reduce(0) { $0 + f($1) }) }
        family(&out, "litestream_sync_count", "counter", "Local syncs since replication started, all databases.",
            [([], total(\.syncCount))])
        family(&out, "litestream_sync_error_count", "counter", "Failed local syncs since replication started, all databases.",
            [([], total(\.syncErrorCount))])
        family(&out, "litestream_checkpoint_count", "counter", "Checkpoints run by the replicator, all databases.",
            [([], total(\.checkpointCount))])
        family(&out, "litestream_checkpoint_seconds_total", "counter", "Time spent in those checkpoints.",
            [([], statuses.reduce(0) { $0 + $1.checkpointSeconds })])
        // Per replica name and type: a directory's databases share their replicas' names.
        var groups: [String: (labels: [(String, String)], replicas: [ReplicaStatus])] = [:]
        for s in statuses {
            for r in s.replicas { groups["\(r.name)\u{0}\(r.type)", default: ([("replica", r.name), ("type", r.type)], [])].replicas.append(r) }
        }
        let replicaGroups = groups.sorted { $0.key < $1.key }.map(\.value)
        func perReplica(_ f: ([ReplicaStatus]) -> Double) -> [(labels: [(String, String)], value: Double)] {
            replicaGroups.map { ($0.labels, f($0.replicas)) }
        }
        family(&out, "litestream_replica_lag_seconds", "gauge", "The largest lag of any database's replica.",
            perReplica { $0.map(\.lagSeconds).max() ?? 0 })
        family(&out, "litestream_replica_lag_bytes", "gauge", "Bytes of local LTX files the replicas lack, all databases.",
            perReplica { Double($0.reduce(0) { $0 + $1.lagBytes }) })
        family(&out, "litestream_replica_pending_files", "gauge", "Local LTX files the replicas lack, all databases.",
            perReplica { Double($0.reduce(0) { $0 + $1.pendingFiles }) })
        family(&out, "litestream_upload_bytes", "counter", "Bytes uploaded since replication started, all databases.",
            perReplica { Double($0.reduce(0) { $0 + $1.uploadBytes }) })
        family(&out, "litestream_replica_error_count", "counter", "Failed replica calls since replication started, all databases.",
            perReplica { Double($0.reduce(0) { $0 + $1.errorCount }) })
        family(&out, "litestream_replica_operation_total", "counter", "Requests sent since replication started, by kind, all databases.",
            replicaGroups.flatMap { g -> [(labels: [(String, String)], value: Double)] in
                let counted = g.replicas.compactMap(\.requests)
                guard !counted.isEmpty else { return [] }
                return RequestCounts.Kind.allCases.map { kind in
                    (g.labels + [("operation", kind.rawValue)], Double(counted.reduce(0) { $0 + $1[kind] }))
                }
            })
        // The databases that need attention, by name, a bounded number of them.
        family(&out, "litestream_db_error", "gauge", "1 for a database whose last sync (or start) failed (at most \(attentionLimit)).",
            failing.prefix(attentionLimit).map { ([("db", $0.path)], 1) })
        let lagging = statuses.flatMap { s in
            s.replicas.filter { $0.lagSeconds > 0 }.map { (s.path, $0) }
        }.sorted { $0.1.lagSeconds > $1.1.lagSeconds }.prefix(attentionLimit)
        family(&out, "litestream_db_replica_lag_seconds", "gauge", "The replicas most behind (at most \(attentionLimit)).",
            lagging.map { ([("db", $0.0), ("replica", $0.1.name), ("type", $0.1.type)], $0.1.lagSeconds) })
        return out
    }

    /// Every database's own series.
    static func renderPerDatabase(_ statuses: [ReplicationStatus]) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
            Self.family(&out, name, type, help, samples)
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
