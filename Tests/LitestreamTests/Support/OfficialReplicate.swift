import Foundation

extension TestEnvironment {
    /// Litestream 0.5.17's `replicate` for a "it replicates, we restore" interop test: it runs until its first
    /// level-0 upload, then the test database at `db` gets one more row (`'one more'` into `t`), and it runs until
    /// that commit is uploaded too; then it is interrupted (it replicates until then) and waited for.
    ///
    /// - Parameter level0Count: the number of level-0 files in the replica now.
    /// - Returns: the level-0 count before the extra commit (the caller expects more) and the process's output.
    static func officialReplicateUntilOneMore(
        _ official: String, _ args: [String], environment: [String: String]? = nil, db: String,
        stopTimeout: Duration = .seconds(60), level0Count: () async throws -> Int
    ) async throws -> (first: Int, stopped: (status: Int32, stdout: String, stderr: String)) {
        let child = try launch(official, args, environment: environment)
        let deadline = ContinuousClock.now + .seconds(90)
        while try await level0Count() == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(300)) }
        try TestDatabase(path: db).exec("INSERT INTO t (v) VALUES ('one more')")
        let first = try await level0Count()
        while try await level0Count() == first && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(300))
        }
        child.interrupt()
        let stopped = try await Integration.offload { try child.wait(timeout: stopTimeout) }
        return (first, stopped)
    }
}
