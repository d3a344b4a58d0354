import Foundation
import LTX
import LitestreamClient
import LitestreamCore
import Testing

/// #19.2: the database's page size changes (`PRAGMA page_size` and `VACUUM` between two runs, or a database of
/// another page size put in its place during one). The replicator writes every page again in the new size; the
/// replica must stay restorable at every moment, at the latest state and at points on both sides of the change,
/// by our restore and (once the snapshot written at the change is there) by Litestream 0.5.17's.
@Suite(.ownThreads) struct PageSizeChangeTests {
    typealias Setup = SupervisorContractTests.Setup

    enum Change: String, Sendable, CaseIterable, CustomTestStringConvertible {
        /// `PRAGMA page_size=8192; VACUUM` while no replicator runs.
        case betweenRuns
        /// `restore -force -o` of an 8192-byte-page database onto the live path.
        case duringARun
        var testDescription: String { rawValue }
    }

    static let cases: [(Change, LiveReplicate.Kind)] =
        [(.betweenRuns, .file), (.duringARun, .file)] + (LiveReplicate.kinds.contains(.s3) ? [(.betweenRuns, .s3), (.duringARun, .s3)] : [])

    @Test(.timeLimit(.minutes(4)), arguments: cases)
    func everyPointStaysRestorable(change: Change, kind: LiveReplicate.Kind) async throws {
        let s = try Setup("i19p-\(change.rawValue.prefix(4))-\(kind)")
        defer { s.remove() }
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('p1'), ('p2');")
        let url = try await kind.url(s)
        var live = try LiveReplicate.start(s, url: url)
        defer { live.process.signal(SIGKILL) }
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('p3');")
        #expect(try live.syncWait().status == 0)
        var valuesBefore = "p1,p2,p3"
        if change == .duringARun {
            // Commits still waiting for an S3 upload (the second waits out the 1 s interval) when the file in the
            // new size comes: one batch must not merge the two page sizes. Synced locally only.
            try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('x1');")
            try await Task.sleep(for: .milliseconds(50))
            try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('x2');")
            #expect(try s.run(["sync", "-socket", live.socket, s.db]).status == 0)
            valuesBefore = "p1,p2,p3,x1,x2"
        }
        let before = try #require(try live.status().localTXID)
        try await Task.sleep(for: .milliseconds(50))  // point-in-time restores below tell the two sides apart by milliseconds
        let changedAt = Int64(Date().timeIntervalSince1970 * 1000)

        switch change {
        case .betweenRuns:
            #expect(try live.stop().status == 0)
            try TestEnvironment.sqlite3(s.db, "PRAGMA journal_mode=delete; PRAGMA page_size=8192; VACUUM; PRAGMA journal_mode=wal;")
            live = try LiveReplicate.start(s, url: url)
        case .duringARun:
            let other = s.path("other.db")
            try TestEnvironment.sqlite3(other, "PRAGMA page_size=8192; PRAGMA journal_mode=wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('p1'), ('p2'), ('p3');")
            let side = "file://" + s.path("side-replica")
            #expect(try s.run(["replicate", "-once", "-force-snapshot", other, side]).status == 0)
            #expect(try s.run(["restore", "-force", "-o", s.db, side]).status == 0)
        }
        #expect(try TestEnvironment.sqlite3(s.db, "PRAGMA page_size;") == "8192")
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('p4');")
        let synced = try live.syncWait()
        #expect(synced.status == 0, "\(synced.stderr)")
        // Ours restores at once, whatever else the replicator is doing.
        try LiveReplicate.expectRestores(s, url: url, values: "p1,p2,p3,p4", tools: [.swift], "latest, right after the change")

        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('p5');")
        #expect(try live.syncWait().status == 0)
        let stopped = try live.stop()
        #expect(stopped.status == 0, "\(stopped.stderr.suffix(3000))")
        #expect(Integration.errorLines(stopped.stderr).isEmpty, "\(stopped.stderr.suffix(3000))")

        // The latest state, by both tools: the snapshot written at the change lets Litestream 0.5.17 restore too.
        try LiveReplicate.expectRestores(s, url: url, values: "p1,p2,p3,p4,p5", "latest")
        // Before the change, by TXID and by time, both tools.
        try LiveReplicate.expectRestores(s, url: url, values: valuesBefore, flags: ["-txid", before.description], "TXID \(before), before the change")
        let timestamp = ISO8601DateFormatter.withMilliseconds.string(from: Date(timeIntervalSince1970: Double(changedAt) / 1000))
        try LiveReplicate.expectRestores(s, url: url, values: valuesBefore, tools: [.swift], flags: ["-timestamp", timestamp], "before the change, by time")
        // After it, at the end of the first file in the new size (p4 may have come before the replicator noticed;
        // an S3 upload may hold a few TXIDs).
        let first = try #require(try await LiveReplicate.files(url).filter { $0.level == 0 && $0.minTXID == before.next }.first)
        let atChange = try LiveReplicate.restore(s, url: url, with: .swift, flags: ["-txid", first.maxTXID.description])
        let path = try #require(atChange.path, "\(atChange.output)")
        let c = try LiveReplicate.content(path)
        #expect(c.integrity == "ok" && ["p1,p2,p3", "p1,p2,p3,p4"].contains(c.values), "\(first): \(c)")
    }
}

extension ISO8601DateFormatter {
    static var withMilliseconds: ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}
