// An orders API on Hummingbird + GRDB (a DatabasePool, so WAL from the start), with the replication supervisor
// as one of the application's services and `litestream` as a subcommand of the app's command line. The fixture
// of the Hummingbird tests; configured from the same environment variables as NotesVapor:
//
//   APP_PORT, APP_DB, APP_REPLICA, APP_CONFIG, APP_SOCKET, APP_MAX_LAG, APP_PREPARE_ONLY, LITESTREAM_PASSWORD
import ArgumentParser
import Foundation
import GRDB
import Hummingbird
import LitestreamHummingbird
import LitestreamSupervisor
import Logging

/// The app's configuration, shared by `serve` and `litestream`: the same databases and replicas.
enum OrdersLitestream: LitestreamConfigurationProvider {
    static func litestreamConfiguration() throws -> ReplicationSupervisor.Configuration {
        let env = ProcessInfo.processInfo.environment
        var configuration = ReplicationSupervisor.Configuration(
            databases: [.init(path: databasePath, replicas: env["APP_REPLICA"].map { [$0] } ?? [])],
            configPath: env["APP_CONFIG"]
        )
        configuration.socketPath = env["APP_SOCKET"]
        configuration.shutdownTimeout = .seconds(20)
        return configuration
    }

    static var databasePath: String { ProcessInfo.processInfo.environment["APP_DB"] ?? "orders.sqlite" }
}

@main
struct Orders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        subcommands: [Serve.self, LitestreamSubcommand<OrdersLitestream>.self],
        defaultSubcommand: Serve.self
    )
}

struct Order: Codable, FetchableRecord, MutablePersistableRecord, ResponseEncodable {
    static let databaseTableName = "orders"
    var id: Int64?
    var item: String

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct NewOrder: Decodable {
    var item: String
}

struct Serve: AsyncParsableCommand {
    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        var logger = Logger(label: "orders")
        logger.logLevel = .info
        let supervisor = ReplicationSupervisor(
            configuration: try OrdersLitestream.litestreamConfiguration(),
            logger: Logger(label: "litestream")
        )
        // Restore on boot, before GRDB opens the pool.
        let prepared = try await supervisor.prepareDatabases()
        if env["APP_PREPARE_ONLY"] == "1" {
            let rows = prepared.map { #"{"path":"\#($0.path)","action":"\#($0.action.rawValue)","switchedToWAL":\#($0.switchedToWAL)}"# }
            print("[" + rows.joined(separator: ",") + "]")
            return
        }

        let dbPath = OrdersLitestream.databasePath
        let pool = try DatabasePool(path: dbPath)
        try await pool.write { db in
            try db.create(table: "orders", ifNotExists: true) { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("item", .text).notNull()
            }
        }

        let router = Router()
        router.get("orders") { _, _ in
            try await pool.read { db in try Order.order(Column("id")).fetchAll(db) }
        }
        router.post("orders") { request, context in
            let new = try await request.decode(as: NewOrder.self, context: context)
            return try await pool.write { db in
                var order = Order(id: nil, item: new.item)
                try order.insert(db)
                return order
            }
        }
        // The critical write: acknowledged only once the replica holds it.
        router.post("orders/critical") { request, context in
            let new = try await request.decode(as: NewOrder.self, context: context)
            let order = try await pool.write { db in
                var order = Order(id: nil, item: new.item)
                try order.insert(db)
                return order
            }
            try await supervisor.sync(dbPath, waitForReplicas: true, timeout: .seconds(10))
            return order
        }
        router.addLitestreamHealth(at: "litestream/health", supervisor: supervisor,
                                   maximumLag: .seconds(Int(env["APP_MAX_LAG"] ?? "") ?? 60))
        router.addLitestreamDashboard(at: "litestream", supervisor: supervisor)

        var app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: Int(env["APP_PORT"] ?? "") ?? 8080)),
            logger: logger
        )
        // Before the server in Hummingbird's ServiceGroup, so stopped after it: the final sync sees every write.
        app.addServices(supervisor)
        try await app.runService()
    }
}
