import Foundation
import LitestreamClient
import Testing

@testable import LitestreamCore
@testable import LitestreamS3

/// Our built `litestream replicate -config` with a control socket, against a file or S3 (moto) replica, for tests
/// that change the world under a running replicator (#19: the database file replaced, the replica deleted, a second
/// writer) and then check what restores by both tools give.
struct LiveReplicate {
    typealias Setup = SupervisorContractTests.Setup

    let s: Setup
    let url: String
    let process: TestEnvironment.BackgroundProcess
    var socket: String { s.socketPath }

    /// The replica URLs a test runs against: the setup's file replica, and an S3 bucket when a test server runs.
    enum Kind: String, Sendable, CaseIterable, CustomTestStringConvertible {
        case file, s3
        var testDescription: String { rawValue }

        func url(_ s: Setup) async throws -> String {
            switch self {
            case .file: return s.replicaURL
            case .s3: return try S3TestServer.url(bucket: try await S3TestServer.makeBucket("i19"))
            }
        }
    }

    /// Which kinds can run here: S3 only with a test server.
    static var kinds: [Kind] { S3TestServer.enabled ? Kind.allCases : [.file] }

    /// Variables for any `litestream` run: the test server's credentials (moto takes any).
    static var environment: [String: String] { S3TestServer.environment }

    /// Starts replicating `s.db` (or `db`) to `url` and waits for the first upload.
    static func start(_ s: Setup, url: String, db: String? = nil, socket: String? = nil, config: String? = nil) throws -> LiveReplicate {
        let socket = socket ?? s.socketPath
        let config = config ?? s.config
        try """
            socket:
              enabled: true
              path: \(socket)
            dbs:
              - path: \(db ?? s.db)
                replicas:
                  - url: \(url)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try TestEnvironment.launch(s.litestream, ["replicate", "-config", config], environment: environment)
        let live = LiveReplicate(s: s, url: url, process: process, socketOverride: socket, dbOverride: db)
        let up = s.waitFor { (try? live.status())?.replicas.first?.lastUploadAt != nil }
        #expect(up, "replicate did not start: \(process.output.stderr.suffix(3000))")
        return live
    }

    private let socketOverride: String
    private let dbOverride: String?
    var db: String { dbOverride ?? s.db }

    private init(s: Setup, url: String, process: TestEnvironment.BackgroundProcess, socketOverride: String, dbOverride: String?) {
        (self.s, self.url, self.process, self.socketOverride, self.dbOverride) = (s, url, process, socketOverride, dbOverride)
    }

    /// `status -json DB`.
    func status() throws -> ReplicationStatus {
        let r = try s.run(["status", "-socket", socketOverride, "-json", db], timeout: .seconds(30))
        guard r.status == 0 else { throw TestEnvironment.Failure.commandFailed(command: "status", status: r.status, stderr: r.stderr) }
        return try #require(try JSONDecoder().decode([ReplicationStatus].self, from: Data(r.stdout.utf8)).first)
    }

    /// `sync -wait DB`: exit status and output.
    func syncWait(timeout: String = "30s") throws -> (status: Int32, stdout: String, stderr: String) {
        try s.run(["sync", "-wait", "-timeout", timeout, "-socket", socketOverride, db], timeout: .seconds(60))
    }

    /// `status -max-lag LIMIT DB`: exit status.
    func maxLagStatus(_ limit: String) throws -> Int32 {
        try s.run(["status", "-max-lag", limit, "-socket", socketOverride, db], timeout: .seconds(30)).status
    }

    /// Stops the replicator gracefully and returns its output.
    func stop() throws -> (status: Int32, stdout: String, stderr: String) {
        process.interrupt()
        return try process.wait(timeout: .seconds(60))
    }

    /// Restores the replica at `url` with our tool (`.swift`) or Litestream 0.5.17 (`.reference`) into a new file
    /// and returns its path, or nil (with the output) when the restore failed.
    static func restore(
        _ s: Setup, url: String, with tool: Integration.Implementation, flags: [String] = []
    ) throws -> (path: String?, output: String) {
        let out = s.path("restored-\(tool.rawValue)-\(UUID().uuidString.prefix(8)).db")
        let r: (status: Int32, stdout: String, stderr: String)
        switch tool {
        case .swift:
            r = try s.run(["restore", "-o", out] + flags + [url], environment: environment)
        case .reference:
            let official = try TestEnvironment.requireLitestreamBinary()
            // Litestream 0.5.17 cannot start with a custom CA bundle.
            r = try TestEnvironment.run("env", ["-u", "AWS_CA_BUNDLE", official, "restore", "-o", out] + flags + [url],
                environment: S3EndToEndTests.env(), timeout: .seconds(120))
        }
        return (r.status == 0 ? out : nil, "restore by \(tool.testDescription) exited \(r.status): \(r.stdout.suffix(1500)) \(r.stderr.suffix(1500))")
    }

    /// Every file of the replica at `url`, all levels.
    static func files(_ url: String) async throws -> [LTXFileInfo] {
        let client: any ReplicaClient = url.hasPrefix("s3://")
            ? try S3ReplicaClient(url: url, environment: S3TestServer.environment)
            : FileReplicaClient(path: String(url.dropFirst("file://".count)))
        return try await client.allFilesByLevel().values.flatMap { $0 }
    }

    /// `PRAGMA integrity_check` and `SELECT group_concat(v) FROM t` (in id order) of a restored file.
    static func content(_ path: String) throws -> (integrity: String, values: String) {
        (try TestEnvironment.sqlite3(path, "PRAGMA integrity_check;"),
         try TestEnvironment.sqlite3(path, "SELECT group_concat(v, ',') FROM (SELECT v FROM t ORDER BY id);"))
    }

    /// Expects restores by both tools of `url` to pass `integrity_check` and hold `values` in `t`.
    static func expectRestores(
        _ s: Setup, url: String, values: String, tools: [Integration.Implementation] = [.swift, .reference],
        flags: [String] = [], _ label: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        for tool in tools {
            let r = try restore(s, url: url, with: tool, flags: flags)
            guard let path = r.path else {
                Issue.record("\(label): \(r.output)", sourceLocation: sourceLocation)
                continue
            }
            let c = try content(path)
            #expect(c.integrity == "ok", "\(label), \(tool.testDescription): \(c.integrity)", sourceLocation: sourceLocation)
            #expect(c.values == values, "\(label), \(tool.testDescription)", sourceLocation: sourceLocation)
        }
    }
}
