import Testing

@testable import LitestreamSupervisor

/// Exponential backoff between restarts, reset after a healthy run, and giving up after too many in the window.
@Suite struct RestartScheduleTests {
    typealias Policy = ReplicationSupervisor.Configuration.RestartPolicy

    func policy(maximumRestarts: Int = 10) -> Policy {
        var p = Policy()
        p.initialBackoff = .seconds(1)
        p.maximumBackoff = .seconds(30)
        p.resetAfter = .seconds(60)
        p.window = .seconds(600)
        p.maximumRestarts = maximumRestarts
        return p
    }

    @Test func doublesUpToTheMaximum() {
        var schedule = RestartSchedule(policy: policy())
        let start = ContinuousClock.now
        let delays = (0..<7).map { schedule.delay(afterRunOf: .seconds(1), at: start + .seconds($0)) }
        #expect(delays == [1, 2, 4, 8, 16, 30, 30].map { Duration.seconds($0) })
    }

    @Test func aHealthyRunStartsTheBackoffOver() {
        var schedule = RestartSchedule(policy: policy())
        let start = ContinuousClock.now
        _ = schedule.delay(afterRunOf: .seconds(1), at: start)
        _ = schedule.delay(afterRunOf: .seconds(1), at: start + .seconds(1))
        #expect(schedule.delay(afterRunOf: .seconds(60), at: start + .seconds(100)) == .seconds(1))
    }

    @Test func givesUpAfterTheMaximumWithinTheWindowOnly() {
        var schedule = RestartSchedule(policy: policy(maximumRestarts: 3))
        let start = ContinuousClock.now
        for i in 0..<3 { #expect(schedule.delay(afterRunOf: .seconds(90), at: start + .seconds(i)) != nil) }
        #expect(schedule.delay(afterRunOf: .seconds(90), at: start + .seconds(10)) == nil)
        // Ten minutes after the first restarts they no longer count.
        #expect(schedule.delay(afterRunOf: .seconds(90), at: start + .seconds(700)) != nil)
    }
}
