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
        self.init(status: status, maximumLag: maximumLag, now: HealthReport.currentUnixMilliseconds())
    }
}
