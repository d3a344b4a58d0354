import ArgumentParser
import Foundation
import Litestream
import Logging

/// `litestream verify DB` (ours): proves end to end that a fresh commit reaches every replica and restores.
///
/// 1. Asks the running `replicate` (control socket) about DB: nobody there, or DB unknown or stopped: failed.
/// 2. Writes a random nonce into `_litestream_verification` (``VerificationSentinel``; the user's tables are not
///    touched), in this process through the system SQLite.
/// 3. `sync -wait`: returns once every replica holds that commit. On timeout, the status decides: a replica that
///    is behind and whose last attempt failed (its `lastError` is cleared by the next success) makes it failed,
///    with that error; otherwise the replicas are only slow: inconclusive.
/// 4. Restores the latest state of each configured replica into a private temporary directory, runs
///    `integrity_check` and looks for the nonce; the directory is removed in every case.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Writes a sentinel row, waits for the replicas, restores them and checks the row and integrity.",
        discussion: """
            The sentinel is one row of the table _litestream_verification, created on first use. DB must be in \
            the configuration file (its replicas are restored) and replicated by a running replicate (-socket, \
            default $LITESTREAM_SOCKET, else the file's socket.path). Exit codes: 0 verified, 1 failed, \
            3 inconclusive (the replicas did not catch up within -timeout), 64 invalid arguments.
            """
    )

    @Argument(help: "The database to verify.")
    var path: String

    @OptionGroup var configOptions: ConfigOptions

    @Option(name: .litestream("socket"), help: "The running replicate's control socket (default $LITESTREAM_SOCKET, else the file's socket.path, else /var/run/litestream.sock).")
    var socket: String?

    @Option(name: .litestream("timeout"), help: "How long the replicas may take to hold the sentinel.")
    var timeout = "60s"

    @Flag(name: .litestream("json"), help: #"Print {"path", "result": "verified"|"failed"|"inconclusive", "reason", "txid"}."#)
    var json = false

    enum Result: String, Codable { case verified, failed, inconclusive }

    /// What `-json` prints (docs/integration.md).
    struct Report: Codable, Equatable {
        var path: String
        var result: Result
        var reason: String?
        /// The TXID every replica reached (verified only).
        var txid: String?
    }

    func validate() throws { _ = try durationFlag("timeout", timeout, bareSeconds: true) }

    func run() async throws {
        // Quiet logging: the restore's library code logs nothing we want on this command's output.
        SlogTextHandler.bootstrap(level: .warning)
        let db = absolutePath(path)
        let report = await verify(db)
        if json {
            try printJSON(report)
        } else {
            switch report.result {
            case .verified: print("verified: \(db) (txid \(report.txid ?? "?"))")
            case .failed: print("failed: \(db): \(report.reason ?? "unknown reason")")
            case .inconclusive: print("inconclusive: \(db): \(report.reason ?? "unknown reason")")
            }
        }
        switch report.result {
        case .verified: return
        case .failed: throw ExitCode.failure
        case .inconclusive: throw ExitCode(3)
        }
    }

    private func verify(_ db: String) async -> Report {
        func failed(_ reason: String) -> Report { Report(path: db, result: .failed, reason: reason) }
        // The replicas to restore from: the configuration file's entry for DB.
        let config: LitestreamConfiguration
        let replicas: [(name: String, client: any ReplicaClient)]
        do {
            config = try configOptions.load()
            guard let entry = config.database(at: db) else {
                return failed("not a database of the configuration file \(LitestreamConfiguration.resolvePath(flag: configOptions.config).path)")
            }
            replicas = try entry.replicas(forFile: db).map { ($0.name, try $0.makeClient()) }
            if replicas.isEmpty { return failed("no replica configured") }
        } catch {
            return failed("\(error)")
        }
        let socketPath = SocketOptions.socketPath(flag: socket, configured: config.socket.enabled ? config.socket.path : nil)
        let client = ControlClient(socketPath: socketPath, timeout: .seconds(10))
        let wait = GoDuration.parse(timeout, bareSeconds: true) ?? .seconds(60)

        // 1. The replicator runs and replicates DB: otherwise writing the sentinel would prove nothing.
        do {
            let status = try await client.status(path: db)
            if status.lastError == "stopped" { return failed("replication of \(db) is stopped") }
        } catch let ControlClient.Failure.server(status, message) where status == 404 {
            return failed("the running replicator does not replicate this database: \(message)")
        } catch {
            return failed("no replicator is running: \(error)")
        }

        // 2. The sentinel.
        let written: VerificationSentinel.Written
        do {
            written = try VerificationSentinel.write(database: db)
        } catch {
            return failed("cannot write the sentinel row: \(error)")
        }

        // 3. Every replica holds it.
        let txid: String
        do {
            txid = try await client.sync(path: db, wait: true, timeout: wait).first?.txid.description ?? "?"
        } catch let ControlClient.Failure.server(status, message) where status == 504 {
            return await diagnoseTimeout(db, client: client, message: message)
        } catch let ControlClient.Failure.server(_, message) {
            return failed(message)
        } catch {
            return failed("no replicator is running: \(error)")
        }

        // 4. Each replica restores to a sound database holding the sentinel.
        for replica in replicas {
            if let problem = await checkRestore(replica.client, nonce: written.nonce) {
                return failed("replica \(replica.name): \(problem)")
            }
        }
        return Report(path: db, result: .verified, reason: nil, txid: txid)
    }

    /// `sync -wait` timed out: a replica that is behind and failing makes it failed; otherwise inconclusive.
    private func diagnoseTimeout(_ db: String, client: ControlClient, message: String) async -> Report {
        guard let status = try? await client.status(path: db) else {
            return Report(path: db, result: .failed, reason: "no replicator is running (it went away during the wait)")
        }
        if let e = status.lastError {
            return Report(path: db, result: .failed, reason: "replication of \(db) fails: \(e)")
        }
        let failing = status.replicas.filter { $0.txid < status.localTXID && $0.lastError != nil }
        if !failing.isEmpty {
            let reasons = failing.map { "replica \($0.name) is unreachable: \($0.lastError!)" }
            return Report(path: db, result: .failed, reason: reasons.joined(separator: "; "))
        }
        return Report(path: db, result: .inconclusive, reason: "replicas lag past the timeout \(timeout): \(message)")
    }

    /// Restores the replica's latest state into a private temporary directory and checks it; nil when sound and
    /// holding `nonce`. The directory is removed whatever happens.
    private func checkRestore(_ replica: any ReplicaClient, nonce: String) async -> String? {
        var template = Array((NSTemporaryDirectory() + "/litestream-verify-XXXXXX").utf8CString)
        guard let dir = mkdtemp(&template).map({ String(cString: $0) }) else {
            return "cannot create a temporary directory: \(String(cString: strerror(errno)))"
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let restored = dir + "/verify.db"
        do {
            let restorer = Restorer(replica: replica)
            let result = try await restorer.restore(to: restored, plan: try await restorer.plan(), integrityCheck: .full)
            guard let found = try VerificationSentinel.read(database: restored) else {
                return "the restore (txid \(result.txid)) has no sentinel row"
            }
            guard found == nonce else {
                return "the restore (txid \(result.txid)) holds another sentinel (\(found), want \(nonce))"
            }
            return nil
        } catch {
            return "restore failed: \(error)"
        }
    }
}
