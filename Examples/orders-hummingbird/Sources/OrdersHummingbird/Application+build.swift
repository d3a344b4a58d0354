import Foundation
import GRDB
import Hummingbird
import LitestreamHummingbird
import LitestreamSupervisor
import Logging

func buildApplication(hostname: String, port: Int) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "orders")
    logger.logLevel = .info
    // The replicator runs as a child process of this one, started and stopped with the app's services.
    let litestream = ReplicationSupervisor(
        configuration: try OrdersLitestream.litestreamConfiguration(),
        logger: Logger(label: "litestream"))
    // Restore on boot: a missing database comes back from the replica before GRDB opens it.
    try await litestream.prepareDatabases()
    let database = try DatabasePool(path: databasePath)
    try await database.write { db in
        try db.create(table: "orders", ifNotExists: true) { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("item", .text).notNull()
        }
    }

    let router = Router()
    addOrderRoutes(to: router, database: database, litestream: litestream)
    // 200 while backups keep up, 503 when the replica lags more than HEALTH_MAX_LAG seconds (default 60).
    let maximumLag = Int(ProcessInfo.processInfo.environment["HEALTH_MAX_LAG"] ?? "") ?? 60
    router.addLitestreamHealth(at: "litestream/health", supervisor: litestream, maximumLag: .seconds(maximumLag))
    // The dashboard, behind basic auth: set LITESTREAM_PASSWORD to open it (404 without it).
    router.addLitestreamDashboard(at: "litestream", supervisor: litestream)

    var app = Application(
        router: router,
        configuration: .init(address: .hostname(hostname, port: port), serverName: "orders"),
        logger: logger)
    // Added before the server starts, so stopped after it: the final sync sees every write.
    app.addServices(litestream)
    return app
}
