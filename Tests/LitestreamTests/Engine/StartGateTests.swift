import Synchronization
import Testing

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
