import Foundation
import Synchronization
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// The engine's blocking work runs on its own threads (`EngineExecutor`), never on Swift concurrency's
/// cooperative pool, which the control socket, the metrics endpoint and an embedding app need.
@Suite struct EngineExecutorTests {
    /// A database with one row, and a replicator configuration on a probe replica.
    static func setup(_ name: String) throws -> (configuration: Replicator.Configuration, probe: ProbeReplica, app: TestDatabase) {
        let f = try EngineTests.Fixture(name)
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (v); INSERT INTO t VALUES (1)")
        let probe = ProbeReplica(f.replica)
        var c = Replicator.Configuration(database: .init(path: f.dbPath), replica: probe)
        c.minSyncInterval = .milliseconds(5)
        return (c, probe, app)
    }

    @Test(.timeLimit(.minutes(1))) func replicaWritesRunOnEngineThreads() async throws {
        let (configuration, probe, app) = try Self.setup("executor-threads")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let r = Replicator(configuration: configuration)
                try await r.open()
                try await r.runOnce()
                try await r.run()
            }
            while probe.writesBegun.withLock({ $0 }) < 1 { try await Task.sleep(for: .milliseconds(5)) }
            try app.exec("INSERT INTO t VALUES (2)")
            while probe.writesBegun.withLock({ $0 }) < 2 { try await Task.sleep(for: .milliseconds(5)) }
            group.cancelAll()
        }
        #expect(probe.writesOffEngineThreads.withLock { $0 } == 0)
        #expect(EngineExecutor.shared.threadCount >= 1)
    }

    /// More databases than the pool has threads, every one stuck in a replica write that blocks its thread for
    /// 8 s: on the pool, the last of them could begin its write only once an earlier one ended; on the engine's
    /// threads all are stuck at once (so the pool stays free for everything else).
    @Test(.timeLimit(.minutes(3))) func stalledWritesDoNotQueueBehindEachOther() async throws {
        let count = min(ProcessInfo.processInfo.activeProcessorCount + 1, EngineExecutor.shared.maxThreads - 1)
        let stall = Duration.seconds(8)
        let setups = try (0..<count).map { try Self.setup("executor-stall-\($0)") }
        let probes = setups.map(\.probe)
        for p in probes { p.writeStall.withLock { $0 = stall } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (configuration, _, _) in setups {
                group.addTask {
                    let r = Replicator(configuration: configuration)
                    try await r.open()
                    try await r.run()
                }
            }
            // The engine's threads are shared by every suite running in this process (16 at most): in a loaded
            // CI run none of the three had begun after 24 s, so the wait is long; the assertion that matters is
            // that they began together.
            let deadline = ContinuousClock.now + .seconds(90)
            while probes.contains(where: { $0.firstWriteBegan.withLock { $0 } == nil }) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            for p in probes { p.writeStall.withLock { $0 = .zero } }
            group.cancelAll()
        }
        let starts = probes.compactMap { $0.firstWriteBegan.withLock { $0 } }
        #expect(starts.count == count, "only \(starts.count) of \(count) databases began a write")
        if let first = starts.min(), let last = starts.max() {
            #expect(last - first < stall, "the first writes began \(last - first) apart: they queued for threads")
        }
        for p in probes { #expect(p.writesOffEngineThreads.withLock { $0 } == 0) }
    }

    /// Many tasks hopping, yielding and finishing on an executor of two threads: every job runs (a job left in a
    /// thread's next-job slot and never run would hang this test), and no more than two threads start.
    @Test(.timeLimit(.minutes(1))) func everyJobRunsWithinTheThreadLimit() async throws {
        let executor = EngineExecutor(maxThreads: 2)
        let total = try await withTaskExecutorPreference(executor) {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<50 {
                    group.addTask {
                        var n = 0
                        for _ in 0..<200 {
                            await Task.yield()
                            n += 1
                        }
                        if i % 10 == 0 { usleep(20_000) }  // some block their thread a while
                        return n
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        #expect(total == 50 * 200)
        #expect(executor.threadCount <= 2)
    }

    /// The S3 body writer blocks in `PartHandoff.offer` until the uploading task takes each part, so it runs on a
    /// thread of its own even when the upload runs on the engine's: on an engine thread, the task it waits for could
    /// sit in that thread's next-job slot (`EngineExecutor.assertMayBlock` traps there in debug builds).
    @Test(.timeLimit(.minutes(1))) func blockingBodyWriterRunsOffEngineThreads() async throws {
        final class Seen: Sendable { let onEngineThread = Mutex<Bool?>(nil) }
        let seen = Seen()
        let parts = try await withTaskExecutorPreference(EngineExecutor.shared) {
            let handoff = PartHandoff()
            let producer = PartProducer(write: { sink in
                seen.onEngineThread.withLock { $0 = EngineExecutor.isCurrentThread }
                for _ in 0..<4 { try [UInt8](repeating: 1, count: 100).withUnsafeBytes(sink) }
            }, handoff: handoff, partSize: 100, gauge: nil)
            async let produced: Void = producer.run()
            var parts = 1
            while try await !handoff.next().isLast { parts += 1 }
            await produced
            return parts
        }
        #expect(parts == 4)
        #expect(seen.onEngineThread.withLock { $0 } == false)
    }
}
