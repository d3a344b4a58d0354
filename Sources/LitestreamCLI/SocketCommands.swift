import ArgumentParser
import Foundation
import LTX
import Litestream

/// Flags every control-socket client shares (`info`, `list`, `sync`, `start`, `stop`, `register`, `unregister`,
/// `status`), as in Litestream 0.5.17.
struct SocketOptions: ParsableArguments {
    @Option(name: .litestream("socket"), help: "Path of the running replicate's control socket (default $LITESTREAM_SOCKET, else /var/run/litestream.sock).")
    var socketFlag: String?

    /// `-socket`, else `LITESTREAM_SOCKET` (what a supervisor sets for its child, so that commands run beside it
    /// reach it without a flag), else Litestream's default.
    var socket: String { Self.socketPath(flag: socketFlag) }

    static let defaultSocketPath = "/var/run/litestream.sock"

    static func socketPath(flag: String?, configured: String? = nil) -> String {
        flag ?? SupervisorEnvironment.socketPath ?? configured ?? defaultSocketPath
    }

    @Option(name: .litestream("timeout"), help: "How long to wait for the server (e.g. 10s; for sync -wait, the wait).")
    var timeout = "30s"

    @Flag(name: .litestream("json"), help: "Print JSON (shapes documented in docs/status.md).")
    var json = false

    func validate() throws { _ = try durationFlag("timeout", timeout, bareSeconds: true) }

    var timeoutDuration: Duration { GoDuration.parse(timeout, bareSeconds: true) ?? .seconds(30) }

    var client: ControlClient { ControlClient(socketPath: socket, timeout: timeoutDuration + .seconds(5)) }

    /// Runs a request; failures print one line to stderr and exit 1 (unreachable server or refused request).
    /// Runs `body` and prints its `path: status` answer (or its JSON): what start, stop, register and unregister say.
    func act(_ body: (ControlClient) async throws -> ControlActionResult) async throws {
        let r = try await call(body)
        if json { return try printJSON(r) }
        print("\(r.path): \(r.status)")
    }

    func call<T: Sendable>(_ body: (ControlClient) async throws -> T) async throws -> T {
        do {
            return try await body(client)
        } catch let e as ControlClient.Failure {
            printError("\(e)")
            throw ExitCode.failure
        }
    }
}

enum Format {
    /// Sizes as Go's humanize.Bytes prints them (Litestream's status): SI units, one decimal from kB on.
    static func bytesSI(_ n: Int) -> String {
        if n < 1000 { return "\(n) B" }
        let units = ["kB", "MB", "GB", "TB", "PB"]
        var v = Double(n)
        var i = -1
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        return v < 10 ? String(format: "%.1f %@", v, units[i]) : String(format: "%.0f %@", v, units[i])
    }
    static func time(_ ms: Int64?) -> String { ms.map { RFC3339.format(milliseconds: $0) } ?? "-" }
    static func lag(_ seconds: Double) -> String {
        seconds < 10 ? String(format: "%.1fs", seconds) : String(format: "%.0fs", seconds)
    }
    static func state(_ s: ReplicationStatus) -> String {
        if s.lastError == "stopped" { return "stopped" }
        return s.lastError == nil && s.replicas.allSatisfy({ $0.stopped == nil }) ? "ok" : "error"
    }
}

struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Shows the running server's version, pid and database count.")
    @OptionGroup var socket: SocketOptions

    func run() async throws {
        let info = try await socket.call { try await $0.info() }
        if socket.json { return try printJSON(info) }
        print("version:    \(info.version)")
        print("pid:        \(info.pid)")
        print("started:    \(Format.time(info.startedAt))")
        print("config:     \(info.configPath ?? "-")")
        print("socket:     \(info.socketPath)")
        print("databases:  \(info.databases)")
    }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Lists the databases the running server replicates.")
    @OptionGroup var socket: SocketOptions

    func run() async throws {
        let statuses = try await socket.call { try await $0.list() }
        if socket.json { return try printJSON(statuses) }
        var rows = [["PATH", "STATE", "LOCAL TXID", "LAST SYNC", "REPLICAS"]]
        for s in statuses {
            rows.append([s.path, Format.state(s), s.localTXID.description, Format.time(s.lastSyncAt),
                         s.replicas.map(\.name).joined(separator: ",")])
        }
        print(Table.render(rows), terminator: "")
    }
}

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync", abstract: "Syncs a database (or every database) now.",
        discussion: "With -wait, returns only once every replica holds the synced TXID (exit 1 after -timeout).")
    @Argument(help: "The database path (default: every running database).") var path: String?
    @Flag(name: .litestream("wait"), help: "Wait until every replica has the data.") var wait = false
    @OptionGroup var socket: SocketOptions

    func run() async throws {
        let results = try await socket.call { try await $0.sync(path: path, wait: wait, timeout: socket.timeoutDuration) }
        if socket.json { return try path == nil ? printJSON(results) : printJSON(results[0]) }
        for r in results { print("\(r.path): synced to TXID \(r.txid)\(wait ? " on every replica" : "")") }
    }
}

struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Resumes replication of a stopped database.")
    @Argument(help: "The database path.") var path: String
    @OptionGroup var socket: SocketOptions

    func run() async throws {
        try await socket.act { try await $0.start(path: path) }
    }
}

struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stops replication of a database after a final sync (it stays listed).")
    @Argument(help: "The database path.") var path: String
    @OptionGroup var socket: SocketOptions

    func run() async throws {
        try await socket.act { try await $0.stop(path: path) }
    }
}

struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "register", abstract: "Starts replicating another database.")
    @Argument(help: "The database path.") var path: String
    @Option(name: .litestream("replica"), help: "The replica URL (file:///…, s3://…).") var replica: String?
    @OptionGroup var socket: SocketOptions

    func run() async throws {
        try await socket.act { try await $0.register(path: path, replica: replica) }
    }
}

struct UnregisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unregister", abstract: "Stops replicating a database after a final sync and forgets it.")
    @Argument(help: "The database path.") var path: String
    @Flag(name: .litestream("dry-run"), help: "Only check that the server knows the database.") var dryRun = false
    @OptionGroup var socket: SocketOptions

    func run() async throws {
        try await socket.act { [dryRun, path] client in
            guard dryRun else { return try await client.unregister(path: path) }
            return ControlActionResult(path: try await client.status(path: path).path, status: "would unregister")
        }
    }
}

/// `status [DB_PATH]`: where each database and replica stand, from the running replicate. With `-max-lag`, a
/// health check: exit 2 when a replica lags more or a database is failing or stopped. Exit codes in docs/status.md.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Shows replication status (local and replica TXIDs, lag, errors).",
        discussion: "Exit codes: 0 healthy, 1 server unreachable or database unknown, 2 unhealthy (with -max-lag).")
    @Argument(help: "Only this database.") var path: String?
    @Option(name: .litestream("max-lag"), help: "Exit 2 if any replica lags more than this (e.g. 1m) or a database is failing.")
    var maxLag: String?
    @OptionGroup var socket: SocketOptions
    @OptionGroup var configOptions: ConfigOptions

    func validate() throws {
        if let maxLag { _ = try durationFlag("max-lag", maxLag, bareSeconds: true) }
        if maxLag != nil && configOptions.config != nil {
            throw ValidationError("-max-lag needs the running replicate (-socket), not -config")
        }
    }

    func run() async throws {
        // With -config: Litestream 0.5.17's local status (no server needed): local TXID and WAL size.
        if configOptions.config != nil { return try localStatus() }
        let statuses: [ReplicationStatus] = try await socket.call { client in
            if let path { return [try await client.status(path: path)] }
            return try await client.list()
        }
        if socket.json {
            try printJSON(statuses)
        } else {
            var rows = [["DATABASE", "REPLICA", "LOCAL TXID", "REPLICA TXID", "LAG", "LAST UPLOAD", "ERROR"]]
            for s in statuses {
                if s.replicas.isEmpty || s.lastError != nil {
                    rows.append([s.path, "-", s.localTXID.description, "-", "-", "-", s.lastError ?? "-"])
                }
                for r in s.replicas {
                    rows.append([s.path, r.name, s.localTXID.description, r.positionKnown ? r.txid.description : "unknown",
                                 Format.lag(r.lagSeconds), Format.time(r.lastUploadAt),
                                 r.stopped.map { "STOPPED: \($0)" } ?? r.lastError ?? "-"])
                }
            }
            print(Table.render(rows), terminator: "")
            // What happened that replication survived (a replaced database file), after the table.
            for s in statuses {
                if let e = s.lastEvent { print("\(s.path): \(Format.time(s.lastEventAt)): \(e)") }
            }
        }
        if let maxLag, let limit = GoDuration.parse(maxLag, bareSeconds: true) {
            let problems = Self.problems(statuses, maxLag: limit)
            if !problems.isEmpty {
                for p in problems { printError("unhealthy: \(p)") }
                throw ExitCode(2)
            }
        }
    }

    private func localStatus() throws {
        let config: LitestreamConfiguration
        do { config = try configOptions.load() } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
        var rows: [(database: String, status: String, txid: String, wal: String)] = []
        for db in config.databases {
            guard let dbPath = db.path, path.map({ absolutePath($0) == absolutePath(dbPath) }) ?? true else { continue }
            let engine = db.engineConfiguration(path: dbPath)
            let ltxDir = DatabaseEngine(configuration: engine).localLTXDirectory
            let newest = (try? FileManager.default.contentsOfDirectory(atPath: ltxDir))?
                .compactMap { LTXFileName.parse($0)?.max }.max()
            let wal = (try? FileManager.default.attributesOfItem(atPath: dbPath + "-wal")[.size] as? Int) ?? nil
            if !fileExists(dbPath) {
                rows.append((dbPath, "no database", "-", "-"))
            } else if let newest {
                rows.append((dbPath, "ok", newest.description, Format.bytesSI(wal ?? 0)))
            } else {
                rows.append((dbPath, "not initialized", "-", Format.bytesSI(wal ?? 0)))
            }
        }
        if socket.json {
            print(goJSON(rows.map {
                ["database": jsonString($0.database), "status": jsonString($0.status), "local_txid": jsonString($0.txid),
                 "wal_size": jsonString($0.wal)]
            }))
        } else {
            print(Table.render([["database", "status", "local txid", "wal size"]] + rows.map { [$0.database, $0.status, $0.txid, $0.wal] }),
                terminator: "")
        }
    }

    /// Why `statuses` are unhealthy for a lag limit (empty when healthy).
    static func problems(_ statuses: [ReplicationStatus], maxLag: Duration) -> [String] {
        let limit = maxLag.inSeconds
        var out: [String] = []
        for s in statuses {
            if let e = s.lastError { out.append("\(s.path): \(e)") }
            for r in s.replicas where r.lagSeconds > limit {
                out.append("\(s.path): replica \(r.name) lags \(Format.lag(r.lagSeconds)) (limit \(maxLag))")
            }
            for r in s.replicas where r.stopped != nil {
                out.append("\(s.path): replica \(r.name) stopped: \(r.stopped!)")
            }
            for r in s.replicas where r.lastError != nil && r.lagSeconds > 0 && r.stopped == nil {
                out.append("\(s.path): replica \(r.name): \(r.lastError!)")
            }
        }
        return out
    }
}

/// What the control socket's `register` builds for a new database: its path and a replica URL, as on the
/// `replicate DB_PATH REPLICA_URL` command line. For `ControlServer(makeConfiguration:)`.
enum SocketRegistration {
    static func configuration(path: String, replicaURL: String?) throws -> Replicator.Configuration {
        guard let replicaURL else {
            throw ReplicaURL.Invalid(description: "register needs -replica URL (no configuration file to take it from)")
        }
        return Replicator.Configuration(database: .init(path: path), replica: try ReplicaURL.client(replicaURL))
    }
}
