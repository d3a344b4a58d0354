import Foundation
import Testing

/// `litestream verify` against a real `litestream replicate`: verified, failed (replica unreachable, no replicator),
/// inconclusive (replica lagging), and the user's tables untouched.
@Suite(.ownThreads) struct VerifyCommandTests {
    typealias Setup = SupervisorContractTests.Setup

    struct Report: Decodable {
        var path: String
        var result: String
        var reason: String?
        var txid: String?
    }

    /// Starts `replicate -config` with a control socket; returns it once the first upload is in the replica.
    static func startReplicate(_ s: Setup, replicaExtra: String = "", url: String? = nil) throws
        -> TestEnvironment.BackgroundProcess
    {
        try s.writeConfig(replicaExtra: replicaExtra, extra: "socket:\n  enabled: true\n  path: \(s.socketPath)", url: url)
        let replicate = try TestEnvironment.launch(s.litestream, ["replicate", "-config", s.config])
        // Generous: on a loaded two-core machine replicate once took 18 s to open its socket.
        let up = s.waitFor(timeout: .seconds(90)) {
            let r = try? s.run(["status", "-socket", s.socketPath, "-json", s.db], timeout: .seconds(30))
            return r?.status == 0 && r?.stdout.contains("\"lastUploadAt\"") == true
        }
        #expect(up, "replicate did not start: \(replicate.output.stderr)")
        return replicate
    }

    /// A temporary directory of the test's own, so that a check for leftovers does not see other tests' restores.
    static func tmpdir(_ s: Setup) throws -> [String: String] {
        try FileManager.default.createDirectory(atPath: s.path("tmp"), withIntermediateDirectories: true)
        return ["TMPDIR": s.path("tmp")]
    }

    static func verify(_ s: Setup, _ flags: [String] = []) throws -> (status: Int32, report: Report?, stderr: String) {
        let r = try s.run(["verify", "-config", s.config, "-json"] + flags + [s.db], environment: tmpdir(s), timeout: .seconds(120))
        return (r.status, try? JSONDecoder().decode(Report.self, from: Data(r.stdout.utf8)), r.stdout + r.stderr)
    }

    /// The user's schema (without our table) and rows.
    static func userState(_ s: Setup) throws -> String {
        try TestEnvironment.sqlite3(s.db, """
            .timeout 5000
            SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE '_litestream%' ORDER BY name;
            SELECT * FROM t ORDER BY id;
            SELECT * FROM users ORDER BY id;
            """)
    }

    @Test(.timeLimit(.minutes(3))) func verifiedOnAHealthySetupWithoutTouchingUserTables() throws {
        let s = try Setup("verify-ok")
        defer { s.remove() }
        try TestEnvironment.sqlite3(s.db, """
            CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
            CREATE INDEX users_name ON users (name);
            INSERT INTO users (name) VALUES ('ann'), ('bob');
            INSERT INTO t (v) VALUES ('x');
            """)
        let replicate = try Self.startReplicate(s)
        defer { replicate.signal(SIGKILL) }
        let before = try Self.userState(s)

        let first = try Self.verify(s)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.report?.result == "verified", "\(first.stderr)")
        #expect(first.report?.path == s.db)
        #expect(try Self.userState(s) == before, "the user's schema and rows are untouched")
        let nonce1 = try TestEnvironment.sqlite3(s.db, ".timeout 5000\nSELECT nonce FROM _litestream_verification")
        // Again: the one row is replaced, not added to. And the plain output.
        let second = try s.run(["verify", "-config", s.config, s.db], environment: Self.tmpdir(s))
        #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
        #expect(second.stdout.hasPrefix("verified: \(s.db) (txid "), "\(second.stdout)")
        #expect(try TestEnvironment.sqlite3(s.db, ".timeout 5000\nSELECT count(*) FROM _litestream_verification") == "1")
        #expect(try TestEnvironment.sqlite3(s.db, ".timeout 5000\nSELECT nonce FROM _litestream_verification") != nonce1)
        #expect(try Self.userState(s) == before)
        // No temporary restore left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: s.path("tmp"))
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test(.timeLimit(.minutes(3))) func failedWhenTheReplicaIsUnreachable() throws {
        let s = try Setup("verify-unreachable")
        defer { s.remove() }
        let replicate = try Self.startReplicate(s)
        defer { replicate.signal(SIGKILL) }
        // The replica's directory is replaced by a file: every upload fails (ENOTDIR), whoever runs the test.
        try FileManager.default.moveItem(atPath: s.replica, toPath: s.replica + ".moved")
        try Data().write(to: URL(fileURLWithPath: s.replica))
        // Wait until the replicator has met the outage (a commit makes it try), so that the verdict does not depend
        // on how fast a loaded machine gets to it within verify's timeout.
        try TestEnvironment.sqlite3(s.db, ".timeout 5000\nINSERT INTO t (v) VALUES ('x')")
        #expect(s.waitFor {
            let r = try? s.run(["status", "-socket", s.socketPath, "-json", s.db], timeout: .seconds(30))
            return r?.stdout.contains("\"lastErrorAt\"") == true
        })
        let r = try Self.verify(s, ["-timeout", "3s"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.report?.result == "failed", "\(r.stderr)")
        #expect(r.report?.reason?.contains("replica file is unreachable") == true, "\(r.stderr)")
    }

    @Test(.timeLimit(.minutes(3)), .enabled(if: S3TestServer.enabled, "needs LITESTREAM_S3_ENDPOINT (scripts/test.sh)"))
    func inconclusiveWhenTheReplicaLags() async throws {
        let s = try Setup("verify-lag")
        defer { s.remove() }
        // An S3 replica slower than verify's timeout (every request delayed 3 s once replication runs): the
        // sentinel cannot reach it in time, and nothing is wrong. (A long sync-interval no longer makes a replica
        // lag here: verify's sync -wait has it upload at once.)
        let bucket = try await S3TestServer.makeBucket("verify-lag")
        let proxy = try await FaultProxy.start(upstream: try S3TestServer.endpoint())
        defer { Task { await proxy.stop() } }
        let replicate = try Self.startReplicate(s, url: try S3TestServer.url(bucket: bucket, endpoint: proxy.endpoint))
        defer { replicate.signal(SIGKILL) }
        proxy.setDelay(milliseconds: 3000...3000)
        proxy.setMode(.always(.delay))
        let r = try Self.verify(s, ["-timeout", "1s"])
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.report?.result == "inconclusive", "\(r.stderr)")
        #expect(r.report?.reason?.contains("lag") == true, "\(r.stderr)")
    }

    @Test func failedWithoutAReplicator() throws {
        let s = try Setup("verify-none")
        defer { s.remove() }
        try s.writeConfig(extra: "socket:\n  enabled: true\n  path: \(s.socketPath)")
        let r = try Self.verify(s)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.report?.reason?.hasPrefix("no replicator is running") == true, "\(r.stderr)")
        #expect(try TestEnvironment.sqlite3(s.db, "SELECT count(*) FROM sqlite_master WHERE name LIKE '_litestream%'") == "0",
            "nothing written when nobody replicates")
        let plain = try s.run(["verify", "-config", s.config, s.db])
        #expect(plain.stdout.hasPrefix("failed: \(s.db): no replicator is running"), "\(plain.stdout)")
    }

    @Test func invalidArguments() throws {
        let s = try Setup("verify-args")
        defer { s.remove() }
        #expect(try s.run(["verify"]).status == 64)
        #expect(try s.run(["verify", "-timeout", "soon", s.db]).status == 64)
    }
}

extension SupervisorContractTests.Setup {
    var socketPath: String { path("ctl.sock") }
}

/// `verify` and `prepare` with an S3 replica (moto), beside a file replica: every configured replica is restored
/// and checked.
@Suite(.ownThreads, .enabled(if: S3TestServer.enabled, "no S3 test server: run the tests with scripts/test.sh"))
struct VerifyS3Tests {
    typealias Setup = SupervisorContractTests.Setup

    @Test(.timeLimit(.minutes(3))) func verifiesBothReplicasThenPrepareRestoresFromS3() async throws {
        let s = try Setup("verify-s3")
        defer { s.remove() }
        let bucket = try await S3TestServer.makeBucket("verify")
        let s3 = try S3TestServer.url(bucket: bucket)
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('x'), ('y')")
        let replicate = try VerifyCommandTests.startReplicate(s, replicaExtra: "      - name: s3\n        url: \(s3)")
        defer { replicate.signal(SIGKILL) }
        let r = try VerifyCommandTests.verify(s)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.report?.result == "verified", "\(r.stderr)")
        replicate.interrupt()
        #expect(try replicate.wait(timeout: .seconds(60)).status == 0)

        // The database and the file replica are lost; the S3 replica brings it back.
        try FileManager.default.removeItem(atPath: s.replica)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: s.db + suffix) }
        let prepared = try PrepareCommandTests.prepare(s)
        #expect(prepared.map(\.action) == ["restored"])
        #expect(try TestEnvironment.sqlite3(s.db, "SELECT group_concat(v) FROM t") == "x,y")
        #expect(try TestEnvironment.sqlite3(s.db, "SELECT count(*) FROM _litestream_verification") == "1")
    }
}
