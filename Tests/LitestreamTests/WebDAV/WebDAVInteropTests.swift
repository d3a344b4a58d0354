import Foundation
import LTX
import Testing

@testable import LitestreamCore
@testable import LitestreamWebDAV

/// Our CLI and the real Litestream 0.5.17 against one WebDAV server (wsgidav), both ways, by URL and by the
/// configuration keys both accept (`webdav-url`, `webdav-username`, `webdav-password`).
@Suite(.ownThreads, .enabled(if: WebDAVTestServer.enabled, "needs wsgidav in .venv (scripts/test.sh)"))
struct WebDAVInteropTests {
    static func run(_ exe: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try TestEnvironment.run(exe, args, timeout: .seconds(120))
    }

    @Test func ourReplicateThenLitestreamRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try WebDAVTestServer()
        let dir = try TestEnvironment.temporaryDirectory("webdav-ours-to-official")
        let db = try S3EndToEndTests.makeSource(dir)
        let url = server.replicaURL(path: "backups/ours")
        let rep = try Self.run(ours, ["replicate", "-once", db, url])
        #expect(rep.status == 0, "our replicate: \(rep.stderr)")
        #expect(!rep.stderr.contains(server.password))
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(official, ["restore", "-o", out, url])
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
    }

    @Test func litestreamReplicateThenOurRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try WebDAVTestServer()
        let dir = try TestEnvironment.temporaryDirectory("webdav-official-to-ours")
        let db = try S3EndToEndTests.makeSource(dir)
        let url = server.replicaURL(path: "backups/official")
        let replica = try WebDAVReplicaClient(url: url)
        let (first, stopped) = try await TestEnvironment.officialReplicateUntilOneMore(
            official, ["replicate", db, url], db: db) { try await replica.ltxFiles(level: 0).count }
        #expect(try await replica.ltxFiles(level: 0).count > first, "litestream uploaded too little: \(stopped.stderr)")
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(ours, ["restore", "-o", out, url])
        #expect(res.status == 0, "our restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
        #expect(try TestDatabase(path: out).scalar("SELECT v FROM t ORDER BY id DESC LIMIT 1") == "one more")
    }

    /// One configuration file read by both tools: the keys mean the same to each.
    @Test func sameConfigurationFileBothWays() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try WebDAVTestServer(mount: "/dav")
        let dir = try TestEnvironment.temporaryDirectory("webdav-config")
        let db = try S3EndToEndTests.makeSource(dir)
        let config = dir.appendingPathComponent("litestream.yml")
        try """
            dbs:
              - path: \(db)
                replica:
                  type: webdav
                  webdav-url: \(server.url)
                  webdav-username: \(server.user)
                  webdav-password: \(server.password)
                  path: nested/app
            """.write(to: config, atomically: true, encoding: .utf8)
        let rep = try Self.run(ours, ["replicate", "-once", "-config", config.path])
        #expect(rep.status == 0, "our replicate: \(rep.stderr)")
        #expect(server.files(under: "nested/app/ltx/0").count == 1)
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(official, ["restore", "-config", config.path, "-o", out, db])
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
        // And `litestream config` shows no password.
        let printed = try Self.run(ours, ["config", "-config", config.path])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(!printed.stdout.contains(server.password) && printed.stdout.contains("webdav-password: \"<redacted>\""),
            "\(printed.stdout)")
    }

    @Test func ourReplicateReportsABadPasswordAtStartUp() async throws {
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try WebDAVTestServer()
        let dir = try TestEnvironment.temporaryDirectory("webdav-bad-password")
        let db = try S3EndToEndTests.makeSource(dir)
        let rep = try Self.run(ours, ["replicate", "-once", db, server.replicaURL(path: "db", password: "WRONGPASS")])
        #expect(rep.status != 0)
        #expect(rep.stderr.contains("401") && rep.stderr.contains("http://127.0.0.1:\(server.port)/"), "\(rep.stderr)")
        #expect(!rep.stderr.contains("WRONGPASS"), "\(rep.stderr)")
        #expect(server.files().isEmpty)
    }

    /// `register -replica webdav://…` on a running `replicate`: the new database is replicated to the server.
    @Test func registerWithAWebDAVReplicaURL() async throws {
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try WebDAVTestServer()
        let dir = try TestEnvironment.temporaryDirectory("webdav-register")
        let first = try S3EndToEndTests.makeSource(dir)
        let second = dir.appendingPathComponent("second.db").path
        try sqlite3(second, "PRAGMA journal_mode=WAL; CREATE TABLE t (v); INSERT INTO t VALUES ('registered');")
        let socket = dir.appendingPathComponent("ls.sock").path
        let config = dir.appendingPathComponent("litestream.yml")
        try """
            socket: {enabled: true, path: \(socket)}
            dbs:
              - path: \(first)
                replica: {path: \(dir.appendingPathComponent("file-replica").path)}
            """.write(to: config, atomically: true, encoding: .utf8)
        let child = try TestEnvironment.launch(ours, ["replicate", "-config", config.path])
        defer { child.interrupt(); _ = try? child.wait(timeout: .seconds(60)) }
        let deadline = ContinuousClock.now + .seconds(90)
        while !FileManager.default.fileExists(atPath: socket) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        let reg = try Self.run(ours, [
            "register", "-socket", socket, "-timeout", "100s", "-replica", server.replicaURL(path: "registered"), second,
        ])
        #expect(reg.status == 0, "register: \(reg.stderr)")
        #expect(!reg.stdout.contains(server.password) && !reg.stderr.contains(server.password))
        while server.files(under: "registered/ltx/0").isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(!server.files(under: "registered/ltx/0").isEmpty, "\(child.output.stderr)")
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(ours, ["restore", "-o", out, server.replicaURL(path: "registered")])
        #expect(res.status == 0, "\(res.stderr)")
        #expect(try TestDatabase(path: out).scalar("SELECT v FROM t") == "registered")
    }
}
