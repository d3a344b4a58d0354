public import LTX
public import Logging
import SystemPackage

/// Keeps a restored database current (`restore -f`): polls the replica and applies each new LTX file in place,
/// under SQLite's own exclusive file lock so that readers never see a half-applied file.
///
/// The copy is switched to rollback-journal mode (header bytes 18–19 = 1), so readers need no `-wal`/`-shm` and
/// notice changes through the header's change counter, which every applied file bumps. Progress is recorded in
/// `<db>-txid`, as Litestream does.
public struct Follower: Sendable {
    public let replica: any ReplicaClient
    public let output: String
    public let logger: Logger
    private let start: TXID

    /// - Parameters:
    ///   - replica: where the changes come from.
    ///   - output: a database restored from `replica` (open it read-only while this runs).
    ///   - txid: the TXID `output` was restored to.
    ///   - logger: where each applied file is reported.
    public init(replica: any ReplicaClient, output: String, txid: TXID, logger: Logger) {
        self.replica = replica
        self.output = output
        self.start = txid
        self.logger = logger
    }

    /// Applies new files until the task is cancelled.
    ///
    /// - Parameter interval: how long to wait between two looks at the replica.
    public func run(interval: Duration) async throws {
        let file = try OpenFile(output, .readWrite)
        var txid = start
        try withExclusiveLock(file) { try markRollbackMode(file, bumpCounter: true) }
        try writeSidecar(txid)
        while !Task.isCancelled {
            do {
                txid = try await applyNew(after: txid, to: file)
            } catch {
                logger.error("follow: applying new files failed; will retry", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Applies every contiguous file after `txid`; returns the new position.
    func applyNew(after txid: TXID, to file: borrowing OpenFile) async throws -> TXID {
        var current = txid
        while true {
            var best: LTXFileInfo?
            for level in 0..<LTXLevel.snapshot {
                for f in try await replica.ltxFiles(level: level) where f.minTXID <= current.next && f.maxTXID > current {
                    if best == nil || f.maxTXID > best!.maxTXID { best = f }
                }
            }
            guard let next = best else { return current }
            let reader = try await replica.openLTXFile(next)
            var dec = reader.decoder()
            let h = try dec.readHeader()
            // Decode and verify the whole file before touching the database.
            var pages: [(UInt32, [UInt8])] = []
            var buf = [UInt8](repeating: 0, count: Int(h.pageSize))
            while let pgno = try buf.withUnsafeMutableBytes({ try dec.nextPage(into: $0) }) { pages.append((pgno, buf)) }
            try dec.finish()
            try withExclusiveLock(file) {
                for (pgno, data) in pages {
                    try data.withUnsafeBytes { try file.write($0, at: Int64(pgno - 1) * Int64(h.pageSize)) }
                }
                try file.resize(to: Int64(h.commit) * Int64(h.pageSize))
                try markRollbackMode(file, bumpCounter: true)
                try file.sync()
            }
            current = next.maxTXID
            try writeSidecar(current)
            logger.info("follow: applied", metadata: ["file": "\(next)", "txid": "\(current)"])
        }
    }

    /// Page 1: journal mode bytes to rollback, and a new change counter (also written to version-valid-for).
    private func markRollbackMode(_ file: borrowing OpenFile, bumpCounter: Bool) throws {
        var header = [UInt8](repeating: 0, count: 100)
        try header.withUnsafeMutableBytes { _ = try file.readFully($0, at: 0) }
        header[18] = 1
        header[19] = 1
        let counter = (UInt32(header[24]) << 24 | UInt32(header[25]) << 16 | UInt32(header[26]) << 8 | UInt32(header[27])) &+ 1
        for (i, b) in withUnsafeBytes(of: counter.bigEndian, Array.init).enumerated() {
            header[24 + i] = b
            header[92 + i] = b
        }
        try header.withUnsafeBytes { try file.write($0, at: 0) }
    }

    private func writeSidecar(_ txid: TXID) throws {
        let path = output + "-txid"
        let tmp = path + ".tmp"
        let out = try OpenFile(tmp, .writeOnly, options: [.create, .truncate])
        try Array("\(txid)\n".utf8).withUnsafeBytes { try out.write($0) }
        try POSIX.rename(tmp, path)
    }

    /// SQLite's EXCLUSIVE lock for rollback-journal databases: the PENDING byte, then the whole SHARED range.
    private func withExclusiveLock(_ file: borrowing OpenFile, _ body: () throws -> Void) throws {
        let pending: off_t = 0x4000_0000
        try lock(file, F_WRLCK, start: pending, length: 1)
        defer { try? lock(file, F_UNLCK, start: pending, length: 1) }
        try lock(file, F_WRLCK, start: pending + 2, length: 510)
        defer { try? lock(file, F_UNLCK, start: pending + 2, length: 510) }
        try body()
    }

    private func lock(_ file: borrowing OpenFile, _ type: Int32, start: off_t, length: off_t) throws {
        var fl = flock()
        fl.l_type = Int16(type)
        fl.l_whence = Int16(SEEK_SET)
        fl.l_start = start
        fl.l_len = length
        // Wait for readers to finish (F_SETLKW), as a writer would.
        while fcntl(file.descriptor.rawValue, F_SETLKW, &fl) != 0 {
            if errno != EINTR { throw SystemError.last("lock", output) }
        }
    }
}
