import ArgumentParser
import Foundation
import Litestream

/// `-config PATH` and `-no-expand-env`, shared by every command that reads `litestream.yml`.
struct ConfigOptions: ParsableArguments {
    @Option(name: .litestream("config"), help: "Configuration file (default $LITESTREAM_CONFIG or /etc/litestream.yml).")
    var config: String?

    @Flag(name: .litestream("no-expand-env"), help: "Do not expand $VAR and ${VAR} in the configuration file.")
    var noExpandEnv = false

    /// The configuration, or nil when none was named and the default file does not exist.
    func loadIfPresent() throws -> LitestreamConfiguration? {
        let (path, explicit) = LitestreamConfiguration.resolvePath(flag: config)
        if !explicit && !FileManager.default.fileExists(atPath: path) { return nil }
        return try LitestreamConfiguration.load(path: path, expandEnvironment: !noExpandEnv)
    }

    /// The configuration; a missing file is an error that names it.
    func load() throws -> LitestreamConfiguration {
        let (path, _) = LitestreamConfiguration.resolvePath(flag: config)
        return try LitestreamConfiguration.load(path: path, expandEnvironment: !noExpandEnv)
    }
}

extension LitestreamConfiguration {
    /// The configured database at `path` (compared as absolute paths); directory-mode entries match any file
    /// below their directory.
    func database(at path: String) -> DatabaseConfiguration? {
        let target = URL(fileURLWithPath: path).standardizedFileURL.path
        if let exact = databases.first(where: { $0.path.map { URL(fileURLWithPath: $0).standardizedFileURL.path } == target }) {
            return exact
        }
        return databases.first { db in
            guard let dir = db.directory else { return false }
            return target.hasPrefix(URL(fileURLWithPath: dir.path).standardizedFileURL.path + "/")
        }
    }

    /// How long a database found in a directory stays open without a commit (`Replicator.Configuration.
    /// closeIdleAfter`). Short, so that a start of thousands of databases holds few open at a time.
    static let directoryCloseIdleAfter: Duration = .seconds(5)

    /// The replication settings of one database file.
    func replicatorConfiguration(for db: DatabaseConfiguration, path: String? = nil) throws -> Replicator.Configuration {
        guard let engine = path.map({ db.engineConfiguration(path: $0) }) ?? db.engineConfiguration() else {
            throw ValidationError("database entry \(db.displayName) is a directory; give a file")
        }
        guard !db.replicas.isEmpty else {
            throw ValidationError("database \(db.displayName) has no replica configured")
        }
        // No `sync-interval`: the replica's default (S3: one upload a second at most, a quiet database's commit
        // at once; file: each sync at once).
        let replicas = try db.replicas(forFile: engine.path).map {
            Replicator.Replica(name: $0.name, client: try $0.makeClient(), syncInterval: $0.settings.syncInterval)
        }
        var c = try Replicator.Configuration(database: engine, replicas: replicas)
        c.monitorInterval = db.monitorInterval
        // Directory mode is for many databases (one per tenant): an idle one closes its SQLite connections, and
        // then holds no descriptor and no SQLite memory.
        if db.directory != nil { c.closeIdleAfter = Self.directoryCloseIdleAfter }
        c.shutdownSyncTimeout = SupervisorEnvironment.shutdownSyncLimit(shutdownSyncTimeout)
        c.maintenance = maintenanceConfiguration()
        return c
    }
}
