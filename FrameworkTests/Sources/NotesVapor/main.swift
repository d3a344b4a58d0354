// A notes API on Vapor + Fluent (SQLite through sqlite-nio), replicated by `app.litestream`: the fixture of the
// Vapor tests. Configured from the environment:
//
//   APP_PORT        HTTP port (127.0.0.1)
//   APP_DB          the database file
//   APP_REPLICA     its replica URL (with APP_CONFIG unset)
//   APP_CONFIG      a litestream.yml to use instead of APP_DB/APP_REPLICA's generated configuration
//   APP_SOCKET      the control socket
//   APP_MAX_LAG     the health route's lag limit in seconds (default 60)
//   APP_PREPARE_ONLY=1  prepare the databases, print what was done as JSON, and exit (a second instance's boot)
//   LITESTREAM_PASSWORD the dashboard's password
import Fluent
import FluentSQLiteDriver
import Foundation
import LitestreamSupervisor
import LitestreamVapor
import Vapor

final class Note: Model, Content, @unchecked Sendable {
    static let schema = "notes"

    @ID(custom: "id", generatedBy: .database) var id: Int?
    @Field(key: "body") var body: String

    init() {}
    init(body: String) { self.body = body }
}

struct CreateNotes: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("notes")
            .field("id", .int, .identifier(auto: true))
            .field("body", .string, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("notes").delete()
    }
}

struct NewNote: Content {
    var body: String
}

func configure(_ app: Application) async throws {
    let env = ProcessInfo.processInfo.environment
    let dbPath = env["APP_DB"] ?? "notes.sqlite"
    app.http.server.configuration.hostname = "127.0.0.1"
    app.http.server.configuration.port = Int(env["APP_PORT"] ?? "") ?? 8080

    var configuration = ReplicationSupervisor.Configuration(
        databases: [.init(path: dbPath, replicas: env["APP_REPLICA"].map { [$0] } ?? [])],
        configPath: env["APP_CONFIG"]
    )
    configuration.socketPath = env["APP_SOCKET"]
    configuration.shutdownTimeout = .seconds(20)
    app.litestream.configure(configuration)

    // Restore on boot and WAL, before Fluent opens the file.
    let prepared = try await app.litestream.prepareDatabases()
    if env["APP_PREPARE_ONLY"] == "1" {
        let rows = prepared.map { #"{"path":"\#($0.path)","action":"\#($0.action.rawValue)","switchedToWAL":\#($0.switchedToWAL)}"# }
        print("[" + rows.joined(separator: ",") + "]")
        fflush(nil)
        exit(0)
    }

    app.databases.use(.sqlite(.file(dbPath)), as: .sqlite)
    app.migrations.add(CreateNotes())
    // Not for `NotesVapor litestream ...`: the command's output should be litestream's alone.
    if !app.litestream.isRunningCommand { try await app.autoMigrate() }

    app.get("notes") { req async throws -> [Note] in
        try await Note.query(on: req.db).sort(\.$id).all()
    }
    app.post("notes") { req async throws -> Note in
        let note = Note(body: try req.content.decode(NewNote.self).body)
        try await note.save(on: req.db)
        return note
    }
    // The critical write: acknowledged only once the replica holds it.
    app.post("notes", "critical") { req async throws -> Note in
        let note = Note(body: try req.content.decode(NewNote.self).body)
        try await note.save(on: req.db)
        try await req.application.litestream.sync(dbPath, waitForReplicas: true, timeout: .seconds(10))
        return note
    }
    app.litestream.mountHealth(at: "litestream/health",
                               maximumLag: .seconds(Int(env["APP_MAX_LAG"] ?? "") ?? 60))
    app.litestream.mountDashboard(at: "litestream")
}

var environment = try Environment.detect()
try LoggingSystem.bootstrap(from: &environment)
let app = try await Application.make(environment)
do {
    try await configure(app)
    try await app.execute()
} catch {
    app.logger.report(error: error)
    try? await app.asyncShutdown()
    throw error
}
try await app.asyncShutdown()
