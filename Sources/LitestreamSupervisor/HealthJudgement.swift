import Foundation
import LitestreamClient

extension HealthReport {
    /// Judges `status` as of `now` (Unix milliseconds): the clock is a parameter so that the judgement can be
    /// tested without waiting.
    ///
    /// A supervisor switched off or without a replica (``SupervisorStatus/State-swift.enum/disabled``) is healthy:
    /// it does what it was configured to do.
    ///
    /// A replica whose position is still unknown (it has not been listed yet) counts as a problem only once the
    /// child has run longer than `maximumLag`: a replicator that just started needs a moment to list its
    /// replicas, and a health check that fails every deploy's first seconds teaches people to ignore it.
    public init(status: SupervisorStatus, maximumLag: Duration, now: Int64) {
        self.status = status
        var problems: [String] = []
        let limit = maximumLag.inSeconds
        switch status.state {
        case .running:
            // Running but no database answered: the child's last error line says why (a configuration it rejects).
            if status.databases.isEmpty, let error = status.lastError { problems.append(error) }
        case .disabled:
            // Switched off or nothing to replicate: what it was configured to do. A development or test app
            // must not fail its own health check for it.
            break
        default:
            problems.append("replicator not running (\(status.state.rawValue))" + (status.lastError.map { ": \($0)" } ?? ""))
        }
        let runningFor = status.startedAt.map { Double(now - $0) / 1000 }
        for database in status.databases {
            if let error = database.lastError {
                problems.append("\(database.path): " + (error == "stopped" ? "replication stopped" : "sync failing: \(error)"))
            }
            for replica in database.replicas {
                let name = "\(database.path) → \(replica.name)"
                if !replica.positionKnown {
                    // Unknown for how long: the child's age (or the lag the replicator counts) is the best bound
                    // the status gives.
                    if runningFor.map({ $0 > limit }) ?? true || replica.lagSeconds > limit {
                        var line = "\(name): position unknown"
                        if replica.lagSeconds > limit {
                            line += " for \(Self.format(seconds: replica.lagSeconds)) > \(Self.format(seconds: limit))"
                        }
                        if let error = replica.lastError { line += " (\(error))" }
                        problems.append(line)
                    }
                } else if replica.lagSeconds > limit {
                    var line = "\(name): lag \(Self.format(seconds: replica.lagSeconds)) > \(Self.format(seconds: limit))"
                    if let error = replica.lastError { line += " (\(error))" }
                    problems.append(line)
                }
            }
        }
        self.problems = problems
    }

    static func currentUnixMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }

    /// Seconds the way people read them in a health line: "312 s", "1.5 s".
    static func format(seconds: Double) -> String {
        if seconds >= 10 || seconds == seconds.rounded() { return "\(Int(seconds.rounded())) s" }
        return String(format: "%.1f s", seconds)
    }

    /// The health route's body: `{"healthy": Bool, "problems": [String], "status": SupervisorStatus}`. The same
    /// bytes for Vapor and Hummingbird, so that a monitor written against one works with the other.
    public func jsonBody() -> [UInt8] {
        struct Body: Encodable {
            var healthy: Bool
            var problems: [String]
            var status: SupervisorStatus
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(Body(healthy: isHealthy, problems: problems, status: status))) ?? Data("{}".utf8)
        return Array(data)
    }

    /// 200 when healthy, 503 otherwise: what load balancers and orchestrators act on.
    public var httpStatusCode: Int { isHealthy ? 200 : 503 }
}
