import LTX
import LitestreamClient
import Testing

@testable import LitestreamSupervisor

/// What the health routes answer: healthy while the child runs and every replica keeps up; one line per problem.
@Suite struct HealthReportTests {
    func status(state: SupervisorStatus.State = .running, lag: Double = 0, known: Bool = true, error: String? = nil)
        -> SupervisorStatus
    {
        var replica = ReplicaStatus(name: "s3", type: "s3", location: "s3://b/app.db")
        replica.lagSeconds = lag
        replica.positionKnown = known
        var database = ReplicationStatus(path: "/data/app.db", replicas: [replica])
        database.lastError = error
        return SupervisorStatus(state: state, pid: 42, databases: state == .running ? [database] : [])
    }

    @Test func healthyWhileRunningAndCurrent() {
        #expect(HealthReport(status: status(lag: 3), maximumLag: .seconds(60)).isHealthy)
        #expect(HealthReport(status: SupervisorStatus(state: .disabled), maximumLag: .seconds(60)).isHealthy)
    }

    @Test func unhealthyWhenDownLaggingOrFailing() {
        let down = HealthReport(status: status(state: .restarting), maximumLag: .seconds(60))
        #expect(down.problems == ["replicator not running (restarting)"])
        let lagging = HealthReport(status: status(lag: 312), maximumLag: .seconds(60))
        #expect(lagging.problems == ["/data/app.db → s3: lag 312 s > 60 s"])
        let unknown = HealthReport(status: status(lag: 90, known: false), maximumLag: .seconds(60))
        #expect(unknown.problems == ["/data/app.db → s3: position unknown for 90 s > 60 s"])
        let failing = HealthReport(status: status(error: "disk I/O error"), maximumLag: .seconds(60))
        #expect(failing.problems == ["/data/app.db: sync failing: disk I/O error"])
    }
}
