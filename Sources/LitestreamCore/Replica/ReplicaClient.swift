public import LitestreamClient
public import LTX
import SystemPackage

/// One LTX file stored in a replica.
public struct LTXFileInfo: Sendable, Hashable, CustomStringConvertible {
    public var level: Int
    public var minTXID: TXID
    public var maxTXID: TXID
    public var size: Int64
    /// When the file was created: the LTX header timestamp (file mtime, or S3 metadata), Unix milliseconds.
    public var createdAt: Int64

    public init(level: Int, minTXID: TXID, maxTXID: TXID, size: Int64, createdAt: Int64) {
        self.level = level
        self.minTXID = minTXID
        self.maxTXID = maxTXID
        self.size = size
        self.createdAt = createdAt
    }

    public var name: String { LTXFileName.format(min: minTXID, max: maxTXID) }
    public var description: String { "L\(level)/\(name)" }
}

/// The levels Litestream uses: 0 for per-sync files, 1...8 for compactions, 9 for snapshots.
public enum LTXLevel {
    public static let snapshot = 9
    public static let all = Array(0...9)
}

/// Storage for a replica's LTX files: a directory, an S3 bucket, ….
///
/// Implementations write atomically (a reader never sees a partial file) and list files in TXID order. A level-0
/// file should never be written over an existing one: `upload(localPath:level:header:)` and `writeLTXFile` then
/// throw ``ReplicaError`` `.fileExists`, which tells the replicator that another process writes to the replica
/// (the file and S3 clients do; a client that cannot relies on the replicator's listings alone).
public protocol ReplicaClient: Sendable {
    /// `file`, `s3`, …
    var type: String { get }
    /// A description safe to log (never a secret).
    var location: String { get }

    /// The files of one level, sorted by MinTXID (names that are not LTX names are ignored).
    func ltxFiles(level: Int) async throws -> [LTXFileInfo]

    /// Opens a file for reading. The returned handle reads from the file's start.
    func openLTXFile(_ file: LTXFileInfo) async throws -> ReplicaFileReader

    /// Stores a file; `write` streams its bytes to the given sink. Returns the stored file's info.
    ///
    /// `write` is called exactly once, before this returns, and never at the same time as the caller's code; an
    /// implementation may call it on another thread (the S3 client does, to upload parts while later ones are
    /// produced). An error thrown by the sink (the upload failed or was cancelled) must be let through.
    @discardableResult
    func writeLTXFile(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64,
        write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) async throws -> LTXFileInfo

    /// Copies a local LTX file into the replica, unchanged. The default streams it through ``writeLTXFile``.
    @discardableResult
    func upload(localPath: String, level: Int, header: LTXHeader) async throws -> LTXFileInfo

    /// The TXID ranges of the level's files when reading them sends no request (a directory read), so the
    /// replicator can check the replica's tail before each upload; nil (the default) for a replica that bills
    /// listings, which is checked against the listings compaction makes anyway. An empty array: no such file (or
    /// no such directory).
    func ltxRangesWithoutRequest(level: Int) throws -> [ClosedRange<TXID>]?

    /// Deletes files; files already gone are not an error.
    func deleteLTXFiles(_ files: [LTXFileInfo]) async throws

    /// Deletes every file of the replica.
    func deleteAll() async throws

    /// Requests sent so far, by kind, for a replica that pays per request (an object store); nil otherwise. The
    /// default is nil.
    var requestCounts: RequestCounts? { get }

    /// Checks that the replica can be reached with its credentials, so that a mistake in the configuration (a
    /// wrong host, bucket, path or password) is reported at start-up with what to fix, before replication begins.
    /// The default checks nothing and sends nothing.
    func checkAccess() async throws

    /// How often, at most, the replicator uploads to this replica when its configuration sets no `sync-interval`;
    /// nil: each local file as soon as it is written. The default is nil; an object store, which bills every
    /// request, answers one second (Litestream's default), so a busy database costs one upload a second while an
    /// isolated commit is still uploaded at once (see ``Replicator/Replica/syncInterval``).
    var defaultSyncInterval: Duration? { get }
}

/// A readable stored file (a local file, or a downloaded copy), read from its start, that closes itself. A decoder
/// reads straight from it and so keeps it open for as long as the decoder lives.
public final class ReplicaFileReader: LTXInput, @unchecked Sendable {
    package let handle: OpenFile
    public let file: LTXFileInfo

    package init(_ handle: consuming OpenFile, file: LTXFileInfo) {
        self.handle = handle
        self.file = file
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try handle.read(into: buffer) }

    /// A decoder over the whole file, from its start.
    public func decoder(deferPageChecksums: Bool = false) -> LTXDecoder<ReplicaFileReader> {
        LTXDecoder(self, name: file.description, deferPageChecksums: deferPageChecksums)
    }
}

extension ReplicaClient {
    public var requestCounts: RequestCounts? { nil }

    public func checkAccess() async throws {}

    public var defaultSyncInterval: Duration? { nil }

    public func ltxRangesWithoutRequest(level: Int) throws -> [ClosedRange<TXID>]? { nil }

    /// The files of every level, in level order.
    public func allFilesByLevel() async throws -> [Int: [LTXFileInfo]] {
        var out: [Int: [LTXFileInfo]] = [:]
        for level in LTXLevel.all { out[level] = try await ltxFiles(level: level) }
        return out
    }

    /// Copies a local LTX file into the replica, unchanged.
    @discardableResult
    public func upload(localPath: String, level: Int, header: LTXHeader) async throws -> LTXFileInfo {
        try await uploadByCopying(localPath: localPath, level: level, header: header)
    }

    /// The default ``upload(localPath:level:header:)``: streams the file through ``writeLTXFile``.
    package func uploadByCopying(localPath: String, level: Int, header: LTXHeader) async throws -> LTXFileInfo {
        let file = try OpenFile(localPath, .readOnly)
        return try await writeLTXFile(
            level: level, minTXID: header.minTXID, maxTXID: header.maxTXID, timestamp: header.timestamp
        ) { sink in
            // No larger than the file: a 1 MiB buffer zeroed for each small L0 file was a visible share of CPU.
            let size = (try? file.size()).map { Int(max(min($0, 1 << 20), 4096)) } ?? (1 << 20)
            var buffer = [UInt8](repeating: 0, count: size)
            while true {
                let n = try file.read(into: &buffer)
                if n == 0 { break }
                try buffer.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            }
        }
    }
}

extension LTXDecoder where Input == ReplicaFileReader {
    /// A merge input reading `reader`, with a read buffer no larger than the file (and at most `maxBufferSize`): a
    /// busy database's L0 files are a few KiB, and up to `Compactor.maxOpenInputs` of them are open in one merge.
    package init(mergeInput reader: ReplicaFileReader, name: String, maxBufferSize: Int) {
        let size = (try? reader.handle.size()).map { Int(clamping: $0) } ?? maxBufferSize
        self.init(reader, name: name, bufferSize: min(maxBufferSize, size))
    }
}
