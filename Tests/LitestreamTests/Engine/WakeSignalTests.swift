import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// WakeSignal shares one timer between waits; a timer armed for an earlier wait must neither end a later wait
/// early nor leave it without a timeout.
@Suite(.timeLimit(.minutes(3))) struct WakeSignalTests {
    @Test func timesOutWithoutASignal() async {
        let s = WakeSignal()
        let t = await WaitTiming.elapsed { await s.wait(timeout: .milliseconds(100)) }
        #expect(t >= .milliseconds(100) && t < WaitTiming.late)
    }

    @Test func signalBeforeOrDuringAWaitEndsIt() async {
        let s = WakeSignal()
        s.signal()
        s.signal()  // several signals before a wait count as one
        #expect(await WaitTiming.elapsed { await s.wait(timeout: WaitTiming.long) } < WaitTiming.late)
        async let waited = WaitTiming.elapsed { await s.wait(timeout: WaitTiming.long) }
        try? await Task.sleep(for: .milliseconds(50))
        s.signal()
        #expect(await waited < WaitTiming.late)
        #expect(!s.consume(), "the signal was taken by the wait")
    }

    @Test func aLaterShortWaitStillTimesOut() async {
        let s = WakeSignal()
        // Ended early by a signal: its ten-minute timer stays armed.
        async let first: Bool = s.wait(timeout: WaitTiming.long)
        try? await Task.sleep(for: .milliseconds(20))
        s.signal()
        _ = await first
        let t = await WaitTiming.elapsed { await s.wait(timeout: .milliseconds(100)) }
        #expect(t >= .milliseconds(100) && t < WaitTiming.late, "got its own, earlier timer")
    }

    @Test func anEarlierTimerDoesNotEndALaterLongerWait() async {
        let s = WakeSignal()
        // Ended early by a signal: its 200 ms timer stays armed and fires during the next wait.
        async let first: Bool = s.wait(timeout: .milliseconds(200))
        try? await Task.sleep(for: .milliseconds(20))
        s.signal()
        _ = await first
        // On a starved machine the 20 ms sleep can outlast the first wait's 200 ms; the signal is then left for
        // the next wait ("wakes the current or the next wait"), which would end it at once. Not this test's case.
        _ = s.consume()
        let t = await WaitTiming.elapsed { await s.wait(timeout: .milliseconds(800)) }
        #expect(t >= .milliseconds(800), "the earlier timer re-armed for this wait's deadline instead of ending it")
        #expect(t < WaitTiming.late)
    }

    @Test func cancellationEndsAWait() async {
        let s = WakeSignal()
        let task = Task { await WaitTiming.elapsed { await s.wait(timeout: WaitTiming.long) } }
        try? await Task.sleep(for: .milliseconds(50))
        task.cancel()
        #expect(await task.value < WaitTiming.late)
    }
}
