/// The lines of app code that start replication, restore on boot, mount the health route and the dashboard, and make
/// a write durable: printed by install for the user to paste (install never edits Swift sources). They use the
/// public API of LitestreamVapor / LitestreamHummingbird and LitestreamSupervisor as it is, so they compile as
/// printed.
enum AppCodeSnippet {
    static func text(for framework: Framework, database: String) -> String {
        let db = jsonString(database)
        let configPath = """
            "\(ReplicationConfigFiles.productionPath)" : "\(ReplicationConfigFiles.developmentPath)"
            """
        switch framework {
        case .vapor:
            return """
                // In configure(_:), before app.databases.use(...):
                import LitestreamSupervisor
                import LitestreamVapor

                app.litestream.configure(.init(configPath: app.environment == .production
                    ? \(configPath)))
                try await app.litestream.prepareDatabases()          // restore on boot when the database is missing; WAL mode
                app.litestream.mountHealth(at: "litestream/health")   // 200 while backups keep up, 503 otherwise
                app.litestream.mountDashboard(at: "litestream")       // set LITESTREAM_PASSWORD to open it

                // A write that must survive the machine, after it commits:
                try await req.application.litestream.sync(\(db), waitForReplicas: true)
                """
        case .hummingbird:
            return """
                // Where the app builds its router and Application, before it opens the database:
                import Foundation
                import LitestreamHummingbird
                import LitestreamSupervisor

                let env = ProcessInfo.processInfo.environment
                let supervisor = ReplicationSupervisor(configuration: .init(configPath: env["APP_ENV"] == "production"
                    ? \(configPath)))
                _ = try await supervisor.prepareDatabases()           // restore on boot when the database is missing; WAL mode
                // ... open the database (DatabasePool(path: \(db))), build the router ...
                router.addLitestreamHealth(at: "litestream/health", supervisor: supervisor)  // 200 while backups keep up, 503 otherwise
                router.addLitestreamDashboard(at: "litestream", supervisor: supervisor)      // set LITESTREAM_PASSWORD to open it
                // ... var app = Application(router: router, ...)
                app.addServices(supervisor)                           // runs the replicator beside the server, stops it after

                // A write that must survive the machine, after it commits:
                try await supervisor.sync(\(db), waitForReplicas: true)
                """
        }
    }
}
