import Synchronization

/// Runs async work one at a time per key (a database path), in arrival order.
///
/// Why: two verifications of one database at once (the `VerificationService` and a health route, say) would each
/// write their own sentinel, and the restore of one would find the other's: a false "failed". One at a time, each
/// finds its own.
final class KeyedSerialization: Sendable {
    private let waiting = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    func run<T>(_ key: String, _ body: () async throws -> T) async rethrows -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let mine = waiting.withLock { queues -> Bool in
                guard queues[key] != nil else {
                    queues[key] = []  // free: taken, with nobody waiting yet
                    return true
                }
                queues[key]!.append(continuation)
                return false
            }
            if mine { continuation.resume() }
        }
    }

    private func release(_ key: String) {
        let next = waiting.withLock { queues -> CheckedContinuation<Void, Never>? in
            guard var queue = queues[key], !queue.isEmpty else {
                queues[key] = nil
                return nil
            }
            let next = queue.removeFirst()
            queues[key] = queue
            return next
        }
        next?.resume()
    }
}
