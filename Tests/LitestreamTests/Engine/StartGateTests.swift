import Foundation
import LTX
import Synchronization
import Testing

@testable import LitestreamClient
@testable import LitestreamCore

/// `StartGate`: at most `limit` inside, the others let in first come, first served; a waiter cancelled while it
/// waits holds no place.
@Suite(.timeLimit(.minutes(1))) struct StartGateTests {
    final class Order: Sendable {
        private let state = Mutex<[Int]>([])
        func append(_ i: Int) { state.withLock { $0.append(i) } }
        var values: [Int] { state.withLock { $0 } }
    }

    @Test func admitsAtMostTheLimitInOrder() async throws {
        let gate = StartGate(limit: 2)
        try await gate.enter()
        try await gate.enter()
        let order = Order()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<3 {
                group.addTask {
                    try await gate.enter()
                    order.append(i)
                }
                // Each queued before the next one starts.
                while gate.waiting < i + 1 { await Task.yield() }
            }
            #expect(gate.inside == 2)
            #expect(order.values.isEmpty)
            gate.leave()
            gate.leave()
            while order.values.count < 2 { await Task.yield() }
            #expect(order.values == [0, 1])
            gate.leave()
            try await group.waitForAll()
        }
        #expect(order.values == [0, 1, 2])
        #expect(gate.inside == 2)
    }

    @Test func aCancelledWaiterHoldsNoPlace() async throws {
        let gate = StartGate(limit: 1)
        try await gate.enter()
        let waiter = Task { try await gate.enter() }
        while gate.waiting < 1 { await Task.yield() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(gate.waiting == 0)
        gate.leave()
        #expect(gate.inside == 0)
        try await gate.enter()
        #expect(gate.inside == 1)
    }
}

/// A scheduled snapshot does not wait in line at a busy gate: the replica's uploads would wait with it (a commit
/// to one of 10,000 tenants, whose worker was queued behind the others' start-up snapshots, took over 30 s to reach
/// its replica). It is put off instead, and written once the gate has room.
@Suite(.timeLimit(.minutes(2))) struct SnapshotGateTests {
    @Test func aBusyGatePutsTheSnapshotOffAndCommitsStillGoThrough() async throws {
        let f = try EngineTests.Fixture("snapshot-gate")
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('first')")
        let gate = StartGate(limit: 1)
        try await gate.enter()  // busy: another database is starting
        let r = f.replicator { $0.startGate = gate }
        let replica = f.replica
        func newestL0() async throws -> TXID { try await replica.ltxFiles(level: 0).map(\.maxTXID).max() ?? .zero }
        try await r.open()  // not through the gate: this database has started, the gate is busy with others
        try await withServices([r]) {
            #expect(try await Integration.poll(timeout: .seconds(30), interval: .milliseconds(20)) {
                try await newestL0() >= TXID(1)
            }, "the first sync reaches the replica")
            // The first maintenance pass found no snapshot and put it off; commits keep going through meanwhile.
            for i in 0..<3 {
                let before = r.monitor.status().localTXID
                try app.exec("INSERT INTO t (v) VALUES ('while the gate is busy \(i)')")
                // Synced locally (the sync loop does not wait for the uploader)...
                #expect(try await Integration.poll(timeout: .seconds(10), interval: .milliseconds(10)) {
                    r.monitor.status().localTXID > before
                })
                let local = r.monitor.status().localTXID
                // ...and uploaded, by the worker whose snapshot is due.
                #expect(try await Integration.poll(timeout: .seconds(10), interval: .milliseconds(20)) {
                    try await newestL0() >= local
                }, "commit \(i) reaches the replica while a snapshot waits for the gate")
            }
            #expect(try await replica.ltxFiles(level: LTXLevel.snapshot).isEmpty, "no snapshot through a full gate")
            gate.leave()
            #expect(try await Integration.poll(timeout: .seconds(30), interval: .milliseconds(50)) {
                !(try await replica.ltxFiles(level: LTXLevel.snapshot).isEmpty)
            }, "the snapshot is written once the gate has room")
        }
        app.close()
        try await f.assertRestoreMatches()
    }
}
