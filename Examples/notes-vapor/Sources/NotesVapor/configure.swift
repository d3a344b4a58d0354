import Fluent
import FluentSQLiteDriver
import LitestreamSupervisor
import LitestreamVapor
import Vapor

/// The database, relative to the working directory: in the Docker image, `/app/data` is a volume.
let databasePath = "data/notes.sqlite"

func configure(_ app: Application) async throws {
    // Backups: to S3 in production (config/litestream.yml reads the bucket and credentials from the LITESTREAM_*
    // variables), to ./backups on a developer's machine. The replicator runs as a child process of this one.
    app.litestream.configure(.init(configPath: app.environment == .production
        ? "config/litestream.yml" : "config/litestream.development.yml"))
    // Restore on boot: a missing database comes back from the replica before Fluent opens it.
    try await app.litestream.prepareDatabases()

    app.databases.use(.sqlite(.file(databasePath)), as: .sqlite)
    app.migrations.add(CreateNotes())
    // `NotesVapor litestream ...` runs a litestream command: its output is the command's alone.
    if !app.litestream.isRunningCommand { try await app.autoMigrate() }

    // 200 while backups keep up, 503 when the replica lags more than HEALTH_MAX_LAG seconds (default 60).
    let maximumLag = Int(Environment.get("HEALTH_MAX_LAG") ?? "") ?? 60
    app.litestream.mountHealth(at: "litestream/health", maximumLag: .seconds(maximumLag))
    // The dashboard, behind basic auth: set LITESTREAM_PASSWORD to open it (404 without it).
    app.litestream.mountDashboard(at: "litestream")
    try routes(app)
}
