import ArgumentParser
import Foundation
import Litestream

struct LTXCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ltx", abstract: "Lists the LTX files of a replica.")

    @Argument(help: "A replica URL, a configured database path, or a replica directory.")
    var source: String

    @OptionGroup var configOptions: ConfigOptions

    @Option(name: .litestream("level"), help: "Level to list (0-9 or all). Default 0.")
    var level: String = "0"

    @Flag(name: .litestream("json"), help: "Print JSON.")
    var json = false

    func validate() throws {
        if level != "all", Int(level).map({ (0...9).contains($0) }) != true {
            throw ValidationError("invalid -level \(level): want 0-9 or all")
        }
    }

    func run() async throws {
        do {
            let replica: any ReplicaClient
            if !ReplicaURL.isURL(source), let db = try configOptions.loadIfPresent()?.database(at: source),
                let first = db.replicas.first
            {
                replica = try first.makeClient()
            } else {
                replica = try ReplicaURL.client(source)
            }
            let levels = level == "all" ? LTXLevel.all : [Int(level)!]
            var files: [LTXFileInfo] = []
            for l in levels { files += try await replica.ltxFiles(level: l) }
            if json {
                print(goJSON(files.map {
                    ["level": "\($0.level)", "min_txid": jsonString("\($0.minTXID)"), "max_txid": jsonString("\($0.maxTXID)"),
                     "size": "\($0.size)", "timestamp": jsonString(RestoreCommand.formatTimestamp($0.createdAt))]
                }))
            } else {
                let rows = [["level", "min_txid", "max_txid", "size", "created"]] + files.map {
                    ["\($0.level)", "\($0.minTXID)", "\($0.maxTXID)", "\($0.size)", RestoreCommand.formatTimestamp($0.createdAt)]
                }
                print(Table.render(rows), terminator: "")
            }
        } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
    }
}
