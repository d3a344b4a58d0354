import Synchronization
import Testing

@testable import LitestreamSupervisor

/// Verifications of one database never overlap (each would find the other's sentinel); other databases go on.
@Suite struct KeyedSerializationTests {
    final class Counters: Sendable {
        let inside = Mutex<[String: Int]>([:])
        let overlaps = Mutex(0)
    }

    @Test func oneAtATimePerKey() async {
        let serial = KeyedSerialization()
        let counters = Counters()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    let key = i % 2 == 0 ? "/a.db" : "/b.db"
                    await serial.run(key) {
                        let n = counters.inside.withLock { $0[key, default: 0] += 1; return $0[key]! }
                        if n > 1 { counters.overlaps.withLock { $0 += 1 } }
                        try? await Task.sleep(for: .milliseconds(2))
                        counters.inside.withLock { $0[key]! -= 1 }
                    }
                }
            }
        }
        #expect(counters.overlaps.withLock { $0 } == 0)
    }
}
