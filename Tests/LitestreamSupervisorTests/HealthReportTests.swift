import LTX
import LitestreamClient
import LitestreamSupervisor
import Testing

/// The health judgement on hand-made statuses: every rule, and the lines people read.
@Suite struct HealthReportTests {
    static let now: Int64 = 1_767_225_600_000

    static func replica(known: Bool = true, lag: Double = 0, error: String? = nil) -> ReplicaStatus {
        var r = ReplicaStatus(name: "s3", type: "s3", location: "s3://bucket/app.db")
        r.positionKnown = known
        r.txid = known ? TXID(rawValue: 12) : .zero
        r.lagSeconds = lag
        r.lastError = error
        return r
    }

    static func status(state: SupervisorStatus.State = .running, startedSecondsAgo: Int64 = 3600,
                       dbError: String? = nil, replicas: [ReplicaStatus] = [replica()]) -> SupervisorStatus {
        var db = ReplicationStatus(path: "/data/app.db", localTXID: TXID(rawValue: 12), replicas: replicas)
        db.lastError = dbError
        return SupervisorStatus(state: state, pid: state == .running ? 42 : nil, restarts: 0,
                                startedAt: now - startedSecondsAgo * 1000,
                                databases: state == .running ? [db] : [])
    }

    @Test func runningAndCurrentIsHealthy() {
        let report = HealthReport(status: Self.status(), maximumLag: .seconds(60), now: Self.now)
        #expect(report.isHealthy)
        #expect(report.problems.isEmpty)
        #expect(report.httpStatusCode == 200)
    }

    @Test(arguments: [SupervisorStatus.State.starting, .restarting, .failed, .stopped])
    func notRunningIsUnhealthy(state: SupervisorStatus.State) {
        var status = Self.status(state: state)
        status.lastError = "exit status 1"
        let report = HealthReport(status: status, maximumLag: .seconds(60), now: Self.now)
        #expect(!report.isHealthy)
        #expect(report.httpStatusCode == 503)
        #expect(report.problems.first?.hasPrefix("replicator not running (\(state.rawValue))") == true)
    }

    @Test func disabledIsHealthy() {
        let report = HealthReport(status: SupervisorStatus(state: .disabled), maximumLag: .seconds(60), now: Self.now)
        #expect(report.isHealthy)
    }

    @Test func failedSaysWhy() {
        var status = Self.status(state: .failed)
        status.lastError = "gave up after 10 restarts in 600 s"
        let report = HealthReport(status: status, maximumLag: .seconds(60), now: Self.now)
        #expect(report.problems == ["replicator not running (failed): gave up after 10 restarts in 600 s"])
    }

    @Test func databaseErrorIsUnhealthy() {
        let report = HealthReport(status: Self.status(dbError: "disk I/O error"), maximumLag: .seconds(60), now: Self.now)
        #expect(report.problems == ["/data/app.db: sync failing: disk I/O error"])
        let stopped = HealthReport(status: Self.status(dbError: "stopped"), maximumLag: .seconds(60), now: Self.now)
        #expect(stopped.problems == ["/data/app.db: replication stopped"])
    }

    @Test func lagPastTheLimitIsUnhealthy() {
        let status = Self.status(replicas: [Self.replica(lag: 312, error: "connection refused")])
        let report = HealthReport(status: status, maximumLag: .seconds(60), now: Self.now)
        #expect(report.problems == ["/data/app.db → s3: lag 312 s > 60 s (connection refused)"])
        // At the limit is still fine: "more than maximumLag".
        let atLimit = HealthReport(status: Self.status(replicas: [Self.replica(lag: 60)]), maximumLag: .seconds(60),
                                   now: Self.now)
        #expect(atLimit.isHealthy)
    }

    @Test func replicaErrorWithinTheLagIsHealthy() {
        // A failed upload that is retried and has not made the replica fall behind is no reason to page anyone.
        let status = Self.status(replicas: [Self.replica(lag: 1.5, error: "timeout")])
        #expect(HealthReport(status: status, maximumLag: .seconds(60), now: Self.now).isHealthy)
    }

    @Test func unknownPositionAfterTheGraceIsUnhealthy() {
        let status = Self.status(replicas: [Self.replica(known: false, error: "no such host")])
        let report = HealthReport(status: status, maximumLag: .seconds(60), now: Self.now)
        #expect(report.problems == ["/data/app.db → s3: position unknown (no such host)"])
    }

    @Test func unknownPositionRightAfterStartIsHealthy() {
        let status = Self.status(startedSecondsAgo: 2, replicas: [Self.replica(known: false)])
        #expect(HealthReport(status: status, maximumLag: .seconds(60), now: Self.now).isHealthy)
    }

    @Test func everyProblemIsListed() {
        let status = Self.status(dbError: "locked", replicas: [Self.replica(lag: 90), Self.replica(known: false)])
        let report = HealthReport(status: status, maximumLag: .milliseconds(1500), now: Self.now)
        #expect(report.problems.count == 3)
        #expect(report.problems[1] == "/data/app.db → s3: lag 90 s > 1.5 s")
    }

    @Test func jsonBodyCarriesTheVerdict() throws {
        let report = HealthReport(status: Self.status(replicas: [Self.replica(lag: 90)]), maximumLag: .seconds(60),
                                  now: Self.now)
        let text = String(decoding: report.jsonBody(), as: UTF8.self)
        #expect(text.hasPrefix(#"{"healthy":false,"problems":["\/data\/app.db → s3: lag 90 s > 60 s"]"#))
        #expect(text.contains(#""state":"running""#))
    }
}
