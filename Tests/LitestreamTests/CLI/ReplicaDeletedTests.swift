import Foundation
import LTX
import LitestreamClient
import LitestreamCore
import Testing

@testable import LitestreamS3

/// #19.4: the replica is deleted while `replicate` runs. Nothing noticed: later files went to an empty replica,
/// whose restores failed until a restart. Now the replicator notices that files it wrote are gone (a file
/// replica before its next upload, S3 at the next L1 compaction's listing), says so (ERROR, and the database's
/// `lastEvent`), and writes a snapshot again: restores by both tools give every row.
@Suite(.ownThreads) struct ReplicaDeletedTests {
    typealias Setup = SupervisorContractTests.Setup

    @Test(.timeLimit(.minutes(4)), arguments: LiveReplicate.kinds)
    func snapshotIsWrittenAgain(kind: LiveReplicate.Kind) async throws {
        let s = try Setup("i19d-\(kind)")
        defer { s.remove() }
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('r1'), ('r2');")
        let url = try await kind.url(s)
        let live = try LiveReplicate.start(s, url: url)
        defer { if live.process.isRunning { live.process.signal(SIGKILL) } }
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('r3');")
        #expect(try live.syncWait().status == 0)
        try await Self.waitForSnapshot(url)

        // Gone: the directory, or every object under the replica's path.
        switch kind {
        case .file: try FileManager.default.removeItem(atPath: s.replica)
        case .s3: try await S3ReplicaClient(url: url, environment: LiveReplicate.environment).deleteAll()
        }
        // (On S3 a compaction may write into the emptied path at once: only the directory is checked.)
        if kind == .file { #expect(!FileManager.default.fileExists(atPath: s.replica)) }

        // Commits go on. A file replica is checked before each upload; S3 at the next L1 compaction (every 30 s
        // under writes), so the writes continue until one has run.
        var values = ["r1", "r2", "r3"]
        var n = 3
        let event = try await Integration.poll(timeout: .seconds(120), interval: .milliseconds(500)) {
            n += 1
            try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('r\(n)');")
            values.append("r\(n)")
            return try live.status().lastEvent?.contains("writing a snapshot again") == true
        }
        #expect(event, "no event in the status: \(String(describing: try? live.status()))")
        #expect(try live.syncWait().status == 0)
        try await Self.waitForSnapshot(url)

        let stopped = try live.stop()
        #expect(stopped.status == 0, "\(stopped.stderr.suffix(3000))")
        #expect(Integration.errorLines(stopped.stderr).contains { $0.contains("writing a snapshot again") },
            "\(stopped.stderr.suffix(3000))")
        try LiveReplicate.expectRestores(s, url: url, values: values.joined(separator: ","), "after the replica was deleted")
    }

    /// Waits until the replica at `url` holds a level-9 snapshot.
    static func waitForSnapshot(_ url: String) async throws {
        let found = try await Integration.poll(timeout: .seconds(60), interval: .milliseconds(200)) {
            try await LiveReplicate.files(url).contains { $0.level == LTXLevel.snapshot }
        }
        #expect(found, "no snapshot in \(url)")
    }
}
