import Foundation
import LTX
import Synchronization

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// A real file replica that counts its listings and fails every call while `failing` is set: for tests of one
/// replica's outage, and of how often the engine asks a replica anything. `listingFilter` changes what a listing
/// returns (given the level and the real files), as a listing taken during writes may.
final class ProbeReplica: ReplicaClient {
    let inner: FileReplicaClient
    let failing = Mutex(false)
    let listings = Mutex(0)
    let listingFilter = Mutex<(@Sendable (Int, [LTXFileInfo]) -> [LTXFileInfo])?>(nil)
    /// How long each write blocks its thread first, as a write to a stalled disk would.
    let writeStall = Mutex(Duration.zero)
    /// Writes begun, and those whose thread was not one of the engine's (see `EngineExecutor`).
    let writesBegun = Mutex(0)
    let writesOffEngineThreads = Mutex(0)
    let firstWriteBegan = Mutex<ContinuousClock.Instant?>(nil)

    init(_ inner: FileReplicaClient) { self.inner = inner }
    convenience init(path: String) { self.init(FileReplicaClient(path: path)) }

    struct Outage: Error, CustomStringConvertible { var description: String { "replica unreachable (test outage)" } }
    private func check() throws { if failing.withLock({ $0 }) { throw Outage() } }

    var type: String { "file" }
    var location: String { inner.location }

    func ltxFiles(level: Int) async throws -> [LTXFileInfo] {
        try check()
        listings.withLock { $0 += 1 }
        let files = try await inner.ltxFiles(level: level)
        return listingFilter.withLock { $0 }.map { $0(level, files) } ?? files
    }

    /// Runs before each file a restore opens (to make something happen while a restore runs).
    let beforeOpen = Mutex<(@Sendable (LTXFileInfo) -> Void)?>(nil)

    func openLTXFile(_ file: LTXFileInfo) async throws -> ReplicaFileReader {
        try check()
        beforeOpen.withLock { $0 }?(file)
        return try await inner.openLTXFile(file)
    }

    /// How many of the next level-0 writes are stored and then reported failed, as when the answer to an upload
    /// is lost.
    let storeThenFail = Mutex(0)

    func writeLTXFile(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64,
        write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) async throws -> LTXFileInfo {
        try check()
        noteWrite()
        let info = try await inner.writeLTXFile(
            level: level, minTXID: minTXID, maxTXID: maxTXID, timestamp: timestamp, write: write)
        let lost = level == 0 && storeThenFail.withLock { n in
            defer { n = max(n - 1, 0) }
            return n > 0
        }
        if lost { throw Outage() }
        return info
    }

    /// Synchronous, so that the stall holds the thread the write runs on.
    private func noteWrite() {
        if !EngineExecutor.isCurrentThread { writesOffEngineThreads.withLock { $0 += 1 } }
        writesBegun.withLock { $0 += 1 }
        firstWriteBegan.withLock { $0 = $0 ?? .now }
        let stall = writeStall.withLock { $0 }
        if stall > .zero { usleep(useconds_t(stall.wholeMilliseconds * 1000)) }
    }

    func deleteLTXFiles(_ files: [LTXFileInfo]) async throws {
        try check()
        try await inner.deleteLTXFiles(files)
    }

    func deleteAll() async throws {
        try check()
        try await inner.deleteAll()
    }
}
