import Foundation
import Testing

/// `.ownThreads` really moves a test off the cooperative pool, synchronous bodies included.
@Suite(.ownThreads) struct OwnThreadsTests {
    /// Read from synchronous code: `Thread.current` is unavailable in async contexts.
    static func onOwnThread() -> Bool { ThreadPerJobExecutor.isCurrent }

    @Test func synchronousBodyRunsOnAThreadOfItsOwn() {
        #expect(Self.onOwnThread())
    }

    @Test func asyncBodyStaysOffThePoolAcrossSuspensions() async throws {
        #expect(Self.onOwnThread())
        try await Task.sleep(for: .milliseconds(5))
        #expect(Self.onOwnThread())
        async let child = Self.onOwnThread()
        #expect(await child)
    }
}

/// Without the trait a test runs on the pool (so the checks above can fail).
@Suite struct PoolThreadTests {
    @Test func withoutTheTraitATestRunsOnThePool() {
        #expect(!OwnThreadsTests.onOwnThread())
    }
}
