import Foundation
import Testing

/// Runs a test on threads of its own instead of Swift concurrency's cooperative pool.
///
/// That pool has one thread per core, two on CI. `swift test` runs every suite at once, and a synchronous test
/// (or one that waits for a child process without `Integration.offload`) holds a pool thread until it returns: a
/// run was seen where those tests held both threads for 36 s, and the async tests' servers, timers and process
/// waits could not run meanwhile. Under this trait the test's task prefers an executor that gives every job a
/// new thread, so what it blocks is its own. `#expect` still works: the test stays one task, with its task-locals.
struct OwnThreadsTrait: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite's own scope holds no test code; its tests and test cases get theirs.
        guard testCase != nil else { return try await function() }
        try await withTaskExecutorPreference(ThreadPerJobExecutor.shared) { try await function() }
    }
}

extension Trait where Self == OwnThreadsTrait {
    /// Run on threads of its own, not the cooperative pool: for tests that block (see ``OwnThreadsTrait``).
    static var ownThreads: Self { OwnThreadsTrait() }
}

/// A task executor that runs each job on a new thread. Jobs of a blocking test are few and long (a synchronous
/// test body is one job), so a thread each costs nothing that matters.
final class ThreadPerJobExecutor: TaskExecutor {
    static let shared = ThreadPerJobExecutor()
    /// Whether the calling thread is one of this executor's (tests of the trait check it).
    static var isCurrent: Bool { Thread.current.threadDictionary[marker] != nil }
    private static let marker = "litestream-tests.own-thread"

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let thread = Thread {
            Thread.current.threadDictionary[Self.marker] = true
            job.runSynchronously(on: executor)
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
