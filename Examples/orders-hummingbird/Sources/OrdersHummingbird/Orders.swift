import GRDB
import Hummingbird
import LitestreamSupervisor

struct Order: Codable, FetchableRecord, MutablePersistableRecord, ResponseEncodable {
    static let databaseTableName = "orders"
    var id: Int64?
    var item: String

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct NewOrder: Decodable {
    var item: String
}

func addOrderRoutes(to router: Router<BasicRequestContext>, database: DatabasePool, litestream: ReplicationSupervisor) {
    router.get("orders") { _, _ in
        try await database.read { db in try Order.order(Column("id")).fetchAll(db) }
    }
    router.post("orders") { request, context in
        let new = try await request.decode(as: NewOrder.self, context: context)
        return try await insert(new, into: database)
    }
    // An order that must survive losing this machine: answered only once the replica holds it.
    router.post("orders/critical") { request, context in
        let new = try await request.decode(as: NewOrder.self, context: context)
        let order = try await insert(new, into: database)
        try await litestream.sync(databasePath, waitForReplicas: true)
        return order
    }
}

private func insert(_ new: NewOrder, into database: DatabasePool) async throws -> Order {
    try await database.write { db in
        var order = Order(id: nil, item: new.item)
        try order.insert(db)
        return order
    }
}
