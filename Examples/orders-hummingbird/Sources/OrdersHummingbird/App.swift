import ArgumentParser
import Foundation
import LitestreamSupervisor

/// `OrdersHummingbird [serve] --hostname H --port P` runs the API; `OrdersHummingbird litestream <command>` runs a
/// litestream command (restore, status, verify, ...) with the app's own configuration.
@main
struct Orders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        subcommands: [Serve.self, LitestreamSubcommand<OrdersLitestream>.self],
        defaultSubcommand: Serve.self
    )
}

/// The database, relative to the working directory: in the Docker image, `/app/data` is a volume.
let databasePath = "data/orders.sqlite"

/// Backups: to S3 in production (`APP_ENV=production`, set by the Dockerfile: config/litestream.yml reads the
/// bucket and credentials from the LITESTREAM_* variables), to ./backups on a developer's machine.
enum OrdersLitestream: LitestreamConfigurationProvider {
    static func litestreamConfiguration() throws -> ReplicationSupervisor.Configuration {
        let production = ProcessInfo.processInfo.environment["APP_ENV"] == "production"
        return .init(configPath: production ? "config/litestream.yml" : "config/litestream.development.yml")
    }
}

struct Serve: AsyncParsableCommand {
    @Option(name: .shortAndLong) var hostname = "127.0.0.1"
    @Option(name: .shortAndLong) var port = 8080

    func run() async throws {
        let app = try await buildApplication(hostname: hostname, port: port)
        try await app.runService()
    }
}
