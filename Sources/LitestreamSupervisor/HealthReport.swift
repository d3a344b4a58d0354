import LitestreamClient

/// The answer of a health check: healthy, or the reasons it is not.
public struct HealthReport: Sendable, Equatable, Codable {
    public var isHealthy: Bool { problems.isEmpty }
    /// One line per problem: "replicator not running (restarting)", "/data/app.db → s3: lag 312 s > 60 s", ...
    public var problems: [String]
    public var status: SupervisorStatus

    /// Judges `status`: unhealthy when the child is not running, a database's sync fails, or a replica lags
    /// more than `maximumLag` (or its position is unknown for that long).
    ///
    /// A supervisor switched off or without a replica (``SupervisorStatus/State-swift.enum/disabled``) is healthy:
    /// it does what it was configured to do, and a development app should not fail its health check for it.
    public init(status: SupervisorStatus, maximumLag: Duration) {
        self.status = status
        var problems: [String] = []
        switch status.state {
        case .running, .disabled:
            break
        default:
            problems.append("replicator not running (\(status.state.rawValue))" + (status.lastError.map { ": \($0)" } ?? ""))
        }
        if status.state == .running && status.databases.isEmpty, let error = status.lastError {
            problems.append(error)
        }
        let limit = maximumLag.inSeconds
        for database in status.databases {
            if let error = database.lastError {
                problems.append("\(database.path): \(error == "stopped" ? "replication stopped" : "sync failing: \(error)")")
            }
            for replica in database.replicas where replica.lagSeconds > limit {
                let what = replica.positionKnown ? "lag" : "position unknown for"
                var line = "\(database.path) → \(replica.name): \(what) \(Int(replica.lagSeconds.rounded())) s > \(Int(limit.rounded())) s"
                if let error = replica.lastError { line += " (\(error))" }
                problems.append(line)
            }
        }
        self.problems = problems
    }
}
