// Replicates one database to a directory the way an app runs the replicator beside its own services: as one
// `Service` in a `ServiceGroup`, which SIGTERM (or SIGINT) shuts down gracefully, with a final sync.
//
//     ServiceGroupReplicator DB_PATH REPLICA_DIRECTORY
//
// An app adds `replicator` to its own group instead (Hummingbird: `app.addServices(replicator)`), listed before
// the services that write to the database, which the group then stops first. docs/design.md says when running
// the replicator in-process is safe.
import Foundation
import LitestreamCore
import Logging
import ServiceLifecycle
import UnixSignals

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    print("usage: ServiceGroupReplicator DB_PATH REPLICA_DIRECTORY")
    exit(2)
}
let logger = Logger(label: "replicator")
let replicator = Replicator(
    configuration: .init(database: .init(path: arguments[1]), replica: FileReplicaClient(path: arguments[2])),
    logger: logger)
let group = ServiceGroup(services: [replicator], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
try await group.run()
