import LitestreamCore

extension Integration {
    /// Waits until the replica's L1 compaction has taken its newest L0 file; false after `timeout`. An idle-window
    /// test starts after this: the scheduled compaction (every 30 s) otherwise may fall into the window.
    static func waitForL1CatchUp(_ observer: any ReplicaClient, timeout: Duration = .seconds(120)) async throws -> Bool {
        try await poll(timeout: timeout, interval: .milliseconds(500)) {
            let l0 = try await observer.ltxFiles(level: 0).last?.maxTXID
            let l1 = try await observer.ltxFiles(level: 1).last?.maxTXID
            return l0 != nil && l1 == l0
        }
    }
}
