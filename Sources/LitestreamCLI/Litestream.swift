import ArgumentParser
import Litestream

/// `litestream`: the same commands and flags as Litestream 0.5.17 (single- or double-dash), so its docs and
/// scripts work unchanged.
@main
struct LitestreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "litestream",
        abstract: "Continuous replication of SQLite databases (compatible with Litestream 0.5.17).",
        version: LitestreamVersion.string,
        subcommands: [
            ReplicateCommand.self, RestoreCommand.self, LTXCommand.self, DatabasesCommand.self, StatusCommand.self,
            InfoCommand.self, ListCommand.self, SyncCommand.self, StartCommand.self, StopCommand.self,
            RegisterCommand.self, UnregisterCommand.self, ResetCommand.self, ConfigCommand.self, VersionCommand.self,
        ]
    )
}

enum LitestreamVersion {
    /// Our version; `-verbose` also says which Litestream release we are compatible with.
    static let string = "0.1.0-dev"
    static let compatibleWith = "0.5.17"
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Prints the binary version.")

    @Flag(name: .litestream("verbose"), help: "Also print build and compatibility details.")
    var verbose = false

    func run() {
        print(LitestreamVersion.string)
        if verbose {
            print("litestream-swift, LTX format compatible with Litestream \(LitestreamVersion.compatibleWith)")
        }
    }
}

extension NameSpecification {
    /// `-name` and `--name`, as Go's flag package accepts both.
    static func litestream(_ name: String) -> NameSpecification {
        [.customLong(name, withSingleDash: true), .customLong(name)]
    }
}
