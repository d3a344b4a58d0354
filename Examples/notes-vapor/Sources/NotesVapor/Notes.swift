import Fluent
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

func routes(_ app: Application) throws {
    app.get("notes") { req async throws -> [Note] in
        try await Note.query(on: req.db).sort(\.$id).all()
    }
    app.post("notes") { req async throws -> Note in
        let note = Note(body: try req.content.decode(NewNote.self).body)
        try await note.save(on: req.db)
        return note
    }
    // A note that must survive losing this machine: answered only once the replica holds it.
    app.post("notes", "critical") { req async throws -> Note in
        let note = Note(body: try req.content.decode(NewNote.self).body)
        try await note.save(on: req.db)
        try await req.application.litestream.sync(databasePath, waitForReplicas: true)
        return note
    }
}
