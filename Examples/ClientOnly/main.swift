// A supervisor's view of a running `litestream replicate`, linking LitestreamClient alone: ask the control socket to
// ship a database's pending changes to every replica, then print where each replica stands. The test suite builds
// and runs it, which proves that the client module needs nothing of the engine, S3 or NIO.
//
//     ClientOnlyExample SOCKET DATABASE     # exit 0: every replica holds the database's latest TXID
import Foundation
import LitestreamClient

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: ClientOnlyExample SOCKET DATABASE\n".utf8))
    exit(64)
}
let client = ControlClient(socketPath: arguments[1], timeout: .seconds(60))
do {
    _ = try await client.sync(path: arguments[2], wait: true)
    let status = try await client.status(path: arguments[2])
    for replica in status.replicas {
        print("\(status.path) \(replica.name) \(replica.txid) local \(status.localTXID)")
    }
    exit(status.replicas.allSatisfy { $0.txid == status.localTXID } ? 0 : 2)
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
