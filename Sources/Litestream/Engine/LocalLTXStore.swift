#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LTX

/// The engine's local state: `<meta>/ltx/0/<txid>-<txid>.ltx`, exactly as Litestream keeps it, so either tool can
/// pick up where the other stopped. The newest file's header is the resume position; there is no other state file.
struct LocalLTXStore {
    let metaPath: String
    var directory: String { "\(metaPath)/ltx/0" }

    init(metaPath: String) { self.metaPath = metaPath }

    /// `.<name>-litestream` next to the database, as Litestream names it.
    static func defaultMetaPath(forDatabase path: String) -> String {
        "\(POSIX.dirname(path))/.\(POSIX.basename(path))-litestream"
    }

    func path(min: TXID, max: TXID) -> String { "\(directory)/\(LTXFileName.format(min: min, max: max))" }

    /// Local L0 files sorted by TXID.
    func files() throws -> [(min: TXID, max: TXID)] {
        try POSIX.listDirectory(directory).compactMap { LTXFileName.parse($0) }.sorted { $0.min < $1.min }
    }

    /// Removes leftovers of writes interrupted by a crash.
    func removeTemporaryFiles() throws {
        for name in try POSIX.listDirectory(directory) where name.hasSuffix(".tmp") {
            try POSIX.remove("\(directory)/\(name)")
        }
    }

    /// Reads and fully verifies one local file, returning its header.
    func verifiedHeader(min: TXID, max: TXID) throws -> LTXHeader {
        let p = path(min: min, max: max)
        let fd = try FileDescriptor(path: p, flags: O_RDONLY)
        var dec = LTXDecoder(LTXFileDescriptorInput(fd: fd.fd), name: p)
        let h = try dec.readHeader()
        try dec.finish()
        return h
    }

    func header(min: TXID, max: TXID) throws -> LTXHeader {
        let p = path(min: min, max: max)
        let fd = try FileDescriptor(path: p, flags: O_RDONLY)
        var buf = [UInt8](repeating: 0, count: LTXHeader.size)
        try buf.withUnsafeMutableBytes { _ = try POSIX.preadFull(fd.fd, $0, at: 0, path: p) }
        return try buf.withUnsafeBytes { try LTXHeader(decoding: $0) }
    }

    /// Writes a new L0 file durably: encode to a temp file, fsync, rename, fsync the directory. `keep` is asked
    /// before the rename; when it says no, the temp file is removed and false returned (nothing becomes visible).
    @discardableResult
    func write(header: LTXHeader, keep: () throws -> Bool = { true }, pages: (inout LTXEncoder) throws -> Void) throws -> Bool {
        try POSIX.mkdirs(directory)
        let final = path(min: header.minTXID, max: header.maxTXID)
        let tmp = final + ".tmp"
        do {
            let fd = try FileDescriptor(path: tmp, flags: O_WRONLY | O_CREAT | O_TRUNC)
            var enc = try LTXEncoder(header: header) { try POSIX.writeAll(fd.fd, $0, path: tmp) }
            try pages(&enc)
            try enc.finish()
            guard try keep() else {
                try POSIX.remove(tmp)
                return false
            }
            try POSIX.fsync(fd.fd, path: tmp)
        } catch {
            try? POSIX.remove(tmp)
            throw error
        }
        try POSIX.rename(tmp, final)
        try POSIX.fsyncDirectory(directory)
        return true
    }

    func remove(min: TXID, max: TXID) throws { try POSIX.remove(path(min: min, max: max)) }

    /// Takes an exclusive lock on `<meta>/lock` for as long as the returned descriptor lives, so that two of our
    /// replicators never write the same TXIDs. (A lock file, never the database: see docs/design.md.)
    func lock() throws -> FileDescriptor {
        try POSIX.mkdirs(metaPath)
        let fd = try FileDescriptor(path: "\(metaPath)/lock", flags: O_RDWR | O_CREAT)
        if flock(fd.fd, LOCK_EX | LOCK_NB) != 0 {
            throw EngineError(.localState,
                "another replicator is already running for this database (\(metaPath)/lock is locked)")
        }
        return fd
    }

    func removeAll() throws {
        for f in try files() { try remove(min: f.min, max: f.max) }
    }
}
