import ArgumentParser
import Foundation
import Litestream

/// `litestream databases`: the databases of the configuration file and their replicas, as 0.5.17 prints them
/// (one row per replica here, since a database may have several).
struct DatabasesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "databases", abstract: "Lists databases specified in the configuration file.")

    @OptionGroup var configOptions: ConfigOptions

    @Flag(name: .litestream("json"), help: "Print JSON: [{\"path\": ..., \"replica\": ...}].")
    var json = false

    func run() async throws {
        let config: LitestreamConfiguration
        do { config = try configOptions.load() } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
        var rows: [(path: String, replica: String)] = []
        for db in config.databases {
            for r in db.replicas { rows.append((db.path ?? db.displayName, r.type.rawValue)) }
            if db.replicas.isEmpty { rows.append((db.path ?? db.displayName, "")) }
        }
        if json {
            print(goJSON(rows.map { ["path": jsonString($0.path), "replica": jsonString($0.replica)] }))
        } else {
            print(Table.render([["path", "replica"]] + rows.map { [$0.path, $0.replica] }), terminator: "")
        }
    }
}

/// `litestream reset DB`: removes the local LTX files of a database so the next sync starts from a full
/// snapshot. The database and the replicas are untouched.
struct ResetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset", abstract: "Clears local Litestream state for a database.")

    @Argument(help: "The database path.")
    var path: String

    @OptionGroup var configOptions: ConfigOptions

    @Flag(name: .litestream("dry-run"), help: "Print what would be removed.")
    var dryRun = false

    func run() async throws {
        do {
            let config = try configOptions.loadIfPresent()
            let db = config?.database(at: path)
            let full = absolutePath(path)
            let engine = db?.engineConfiguration(path: full) ?? DatabaseEngine.Configuration(path: full)
            let dir = DatabaseEngine(configuration: engine).localLTXDirectory
            let root = (dir as NSString).deletingLastPathComponent  // <meta>/ltx
            if dryRun {
                print("would remove \(root)")
                return
            }
            if FileManager.default.fileExists(atPath: root) { try FileManager.default.removeItem(atPath: root) }
            print("reset local state of \(path): removed \(root)")
        } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
    }
}

/// `litestream config`: the effective configuration, with every secret redacted. Not in Litestream.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Prints the effective configuration with secrets redacted (not in Litestream).")

    @OptionGroup var configOptions: ConfigOptions

    func run() async throws {
        do { print(try configOptions.load().redactedYAML(), terminator: "") } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
    }
}
