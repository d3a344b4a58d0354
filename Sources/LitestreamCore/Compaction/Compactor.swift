import LitestreamClient
import LTX
import SystemPackage

/// One compaction level and how often it is compacted from the level below (`compaction_level.go`).
public struct CompactionLevel: Sendable, Hashable, CustomStringConvertible {
    /// 1...8. (Level 0 holds per-sync files and level 9 snapshots; neither is compacted into.)
    public var level: Int
    public var interval: Duration

    public init(level: Int, interval: Duration) {
        self.level = level
        self.interval = interval
    }

    /// Litestream's defaults: L1 every 30 s, L2 every 5 min, L3 every hour.
    public static let defaults: [CompactionLevel] = [
        CompactionLevel(level: 1, interval: .seconds(30)),
        CompactionLevel(level: 2, interval: .seconds(5 * 60)),
        CompactionLevel(level: 3, interval: .seconds(60 * 60)),
    ]

    public var description: String { "L\(level) every \(interval)" }

    /// Checks a configured list (`levels:` replaces L1...Ln, as `CompactionLevels.Validate`): levels numbered 1, 2,
    /// … in order, at most 8 of them, each with a positive interval.
    public static func validate(_ levels: [CompactionLevel]) throws {
        guard !levels.isEmpty else {
            throw CompactionError(.invalidConfiguration, "at least one compaction level is required")
        }
        for (i, l) in levels.enumerated() {
            guard l.level == i + 1 else {
                throw CompactionError(.invalidConfiguration,
                    "compaction level number out of order: \(l.level), expected \(i + 1)")
            }
            guard l.level <= LTXLevel.snapshot - 1 else {
                throw CompactionError(.invalidConfiguration, "compaction level cannot exceed \(LTXLevel.snapshot - 1)")
            }
            guard l.intervalMilliseconds > 0 else {
                throw CompactionError(.invalidConfiguration, "interval required for level \(l.level)")
            }
        }
    }

    /// The interval in whole milliseconds (timestamps are Unix milliseconds).
    public var intervalMilliseconds: Int64 { interval.wholeMilliseconds }

    /// The last boundary at or before `now`: `now` truncated to a multiple of the interval, counted as Go's
    /// `time.Truncate` counts (from 0001-01-01 UTC, which for any interval dividing a day is the same as from the
    /// Unix epoch: L1 fires at :00 and :30, L3 on the hour). Unix milliseconds in and out.
    public func previousBoundary(at now: Int64) -> Int64 {
        let d = intervalMilliseconds
        guard d > 0 else { return now }
        let absolute = now + Self.goZeroTimeOffsetMilliseconds
        var r = absolute % d
        if r < 0 { r += d }
        return now - r
    }

    /// The first boundary strictly after `now` (`NextCompactionAt`): when a scheduler should wake next.
    public func nextBoundary(after now: Int64) -> Int64 {
        previousBoundary(at: now) + max(intervalMilliseconds, 1)
    }

    /// Whether the level is due: false (`ErrCompactionTooEarly`) when its newest file (the one with the highest
    /// MaxTXID) was created after the last boundary. A level with no files is always due.
    public func shouldCompact(newestAt: Int64?, now: Int64) -> Bool {
        guard let newestAt else { return true }
        return newestAt <= previousBoundary(at: now)
    }

    /// Milliseconds from 0001-01-01T00:00:00Z (Go's zero time, the origin of `time.Truncate`) to the Unix epoch.
    static let goZeroTimeOffsetMilliseconds: Int64 = 62_135_596_800_000
}

/// Compacts level k of a replica from level k-1 (`compactor.go` `Compactor.Compact`): every level k-1 file newer
/// than level k's newest is merged, newest page versions winning, into one level-k file.
public struct Compactor: Sendable {
    public let client: any ReplicaClient
    /// The configured levels (for `compactIfDue`).
    public var levels: [CompactionLevel]
    /// Where a level-0 file is kept locally, if it is: local copies are preferred to remote ones (as Litestream's
    /// `LocalFileOpener`). Returning nil, or a path that does not exist, falls back to the replica.
    ///
    /// A level-0 file covering several TXIDs (the uploaded merge of a replica's `sync-interval`) is read from
    /// the local one-TXID files it was made of when every one of them is still there: the result is the same,
    /// and an object store is not asked for a GET per merged file at each compaction.
    public var localL0Path: (@Sendable (LTXFileInfo) -> String?)?
    /// Read buffer per input file while merging (default 16 KiB); a smaller file gets a buffer of its size. Memory
    /// is at most about `inputs × (bufferSize + pageSize)`.
    public var decoderBufferSize: Int = 16 << 10
    /// At most this many files are merged at once (default 16, well under 1 MiB of buffers): more inputs — a busy
    /// database's L0 files over a 30 s window — are first merged in consecutive groups into temporary local files,
    /// so memory stays bounded however many files a window holds. The result is the same file.
    ///
    /// Both defaults were 4× larger, and the L1 compaction of a busy database's L0 files was then the replicator's
    /// peak RSS. Those files share most of their pages, so the extra merge level is cheap.
    public var maxOpenInputs: Int = 16
    /// Where those intermediate files go (removed when the compaction ends). Default: `$TMPDIR`, else `/tmp`.
    public var temporaryDirectory: String?
    /// Sees each listing of level 0 made to compact it into L1, before anything is merged; what it throws ends the
    /// compaction. The replicator checks there that nobody else writes to the replica. Default nil.
    public var checkL0: (@Sendable ([LTXFileInfo]) throws -> Void)?

    public init(
        client: any ReplicaClient, levels: [CompactionLevel] = CompactionLevel.defaults,
        localL0Path: (@Sendable (LTXFileInfo) -> String?)? = nil
    ) {
        self.client = client
        self.levels = levels
        self.localL0Path = localL0Path
    }

    /// What `compactIfDue` did.
    public enum Outcome: Sendable, Equatable {
        /// A new file was written to the level.
        case compacted(LTXFileInfo)
        /// The level's newest file is newer than the last boundary (`ErrCompactionTooEarly`).
        case tooEarly
        /// The source level has nothing newer than the level (`ErrNoCompaction`).
        case nothingToCompact
    }

    /// The schedule rule, as a pure function: see `CompactionLevel.shouldCompact(newestAt:now:)`.
    public static func shouldCompact(level: CompactionLevel, newestAt: Int64?, now: Int64) -> Bool {
        level.shouldCompact(newestAt: newestAt, now: now)
    }

    /// The newest file of a level as Litestream picks it (`MaxLTXFileInfo`): the highest MaxTXID, the first in
    /// name order on a tie.
    public static func newest(_ files: [LTXFileInfo]) -> LTXFileInfo? {
        var best: LTXFileInfo?
        for f in sortedByName(files) where best == nil || f.maxTXID > best!.maxTXID { best = f }
        return best
    }

    /// The inputs for compacting into `level`, oldest first: every file of `source` (level-1) whose MinTXID is
    /// above the highest MaxTXID in `destination` (level). Empty when there is nothing to do.
    ///
    /// Throws `.nonContiguous` if the inputs would leave a hole: the first must start right after the
    /// destination's highest TXID (when the destination has files), and each must start right after the previous.
    public static func plan(level: Int, source: [LTXFileInfo], destination: [LTXFileInfo]) throws -> [LTXFileInfo] {
        let destinationMax = destination.map(\.maxTXID).max() ?? .zero
        let inputs = sortedByName(source.filter { $0.minTXID > destinationMax })
        guard let first = inputs.first else { return [] }
        if destinationMax > .zero && first.minTXID != destinationMax.next {
            throw CompactionError(.nonContiguous,
                "cannot compact into L\(level): it ends at TXID \(destinationMax) but the next L\(level - 1) file is "
                    + "\(first) (TXIDs \(destinationMax.next)-\(TXID(first.minTXID.rawValue - 1)) are missing)")
        }
        for (prev, f) in zip(inputs, inputs.dropFirst()) where f.minTXID != prev.maxTXID.next {
            throw CompactionError(.nonContiguous,
                "cannot compact into L\(level): non-contiguous L\(level - 1) files \(prev) and \(f); "
                    + "the file after \(prev) must start at \(prev.maxTXID.next)")
        }
        return inputs
    }

    /// Compacts `level` (1...8) from `level - 1` now, whatever the schedule. Returns the new file, or nil if the
    /// source level has nothing newer.
    ///
    /// - Parameter timestamp: the new file's timestamp (Unix ms); by default the newest input's, as Litestream.
    @discardableResult
    public func compact(level: Int, timestamp: Int64? = nil) async throws -> LTXFileInfo? {
        try await compact(level: level, timestamp: timestamp, destination: nil)
    }

    /// `destination`: the level's listing when the caller just made it (a LIST request saved).
    private func compact(level: Int, timestamp: Int64?, destination listed: [LTXFileInfo]?) async throws -> LTXFileInfo? {
        guard (1...(LTXLevel.snapshot - 1)).contains(level) else {
            throw CompactionError(.invalidLevel, "cannot compact into level \(level): compaction levels are 1-8")
        }
        let source = try await client.ltxFiles(level: level - 1)
        if level == 1, let checkL0 { try checkL0(source) }
        let destination: [LTXFileInfo]
        if let listed { destination = listed } else { destination = try await client.ltxFiles(level: level) }
        let files = try Self.plan(level: level, source: source, destination: destination)
        if files.isEmpty { return nil }
        do {
            return try await merge(files, into: level, timestamp: timestamp)
        } catch let error as CompactionError where error.code == .pageSizeMismatch {
            // The database's page size changed within these files (the replicator wrote a full-database file in
            // the new size at the change). No file may mix two page sizes: one file per run of equal page sizes,
            // so the file that starts a run still holds every page, and a restore can start over from it.
            var last: LTXFileInfo?
            for run in try await pageSizeRuns(files) { last = try await merge(run, into: level, timestamp: timestamp) }
            return last
        }
    }

    /// `files` cut where the page size in their headers changes, in order.
    private func pageSizeRuns(_ files: [LTXFileInfo]) async throws -> [[LTXFileInfo]] {
        var runs: [[LTXFileInfo]] = []
        var current: UInt32?
        for f in files {
            var decoder = try await open(f).0.decoder()
            let pageSize = try decoder.readHeader().pageSize
            if pageSize != current || runs.isEmpty { runs.append([]) }
            current = pageSize
            runs[runs.count - 1].append(f)
        }
        return runs
    }

    /// Merges consecutive `files` of level `level - 1` into one file of `level`.
    private func merge(_ files: [LTXFileInfo], into level: Int, timestamp: Int64?) async throws -> LTXFileInfo {
        // Bounded fan-in: merge consecutive groups into temporary files until few enough inputs are left.
        var inputs = files.flatMap { f in localParts(of: f)?.map { MergeInput.replica($0) } ?? [.replica(f)] }
        var temporaries: [String] = []
        defer { for t in temporaries { try? POSIX.remove(t) } }
        let fanIn = max(2, maxOpenInputs)
        while inputs.count > fanIn {
            var next: [MergeInput] = []
            for start in stride(from: 0, to: inputs.count, by: fanIn) {
                let group = Array(inputs[start..<min(start + fanIn, inputs.count)])
                if group.count == 1 { next.append(group[0]); continue }
                let job = try await mergeJob(group, timestamp: nil)
                let tmp = temporaryPath()
                temporaries.append(tmp)
                let out = try OpenFile(tmp, .writeOnly, options: [.create, .exclusiveCreate], permissions: .ownerReadWrite)
                try job.merger.merge { try out.write($0) }
                next.append(.local(path: tmp, header: job.merger.header))
            }
            inputs = next
        }
        let job = try await mergeJob(inputs, timestamp: timestamp)
        let h = job.merger.header
        return try await client.writeLTXFile(
            level: level, minTXID: h.minTXID, maxTXID: h.maxTXID, timestamp: h.timestamp
        ) { sink in
            try job.merger.merge(into: sink)
        }
    }

    /// A file to merge: one of the replica's (or its local L0 copy), or an intermediate merge of a group.
    private enum MergeInput {
        case replica(LTXFileInfo)
        case local(path: String, header: LTXHeader)
    }

    /// Opens `inputs` and prepares their merge, checking that each replica file's header matches its name.
    private func mergeJob(_ inputs: [MergeInput], timestamp: Int64?) async throws -> MergeJob {
        var decoders: [LTXDecoder<ReplicaFileReader>] = []
        for input in inputs {
            let reader: ReplicaFileReader
            let name: String
            switch input {
            case .replica(let file):
                (reader, name) = try await open(file)
            case .local(let path, let header):
                let info = LTXFileInfo(level: -1, minTXID: header.minTXID, maxTXID: header.maxTXID, size: 0, createdAt: header.timestamp)
                reader = ReplicaFileReader(try OpenFile(path, .readOnly), file: info)
                name = "intermediate merge \(path)"
            }
            decoders.append(LTXDecoder(mergeInput: reader, name: name, maxBufferSize: decoderBufferSize))
        }
        let job = MergeJob(try LTXMerger(decoders, contiguity: .strict, timestamp: timestamp))
        for (input, h) in zip(inputs, job.merger.inputHeaders) {
            guard case .replica(let file) = input else { continue }
            if h.minTXID != file.minTXID || h.maxTXID != file.maxTXID {
                throw CompactionError(.headerMismatch,
                    "\(file) has TXIDs \(h.minTXID)-\(h.maxTXID) in its header, which disagrees with its name")
            }
        }
        return job
    }

    private func temporaryPath() -> String {
        let dir = temporaryDirectory ?? getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return "\(dir)/litestream-compaction-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).ltx"
    }

    /// Runs one scheduled compaction of `level` at wall-clock `now` (Unix ms): skipped when the level's newest
    /// file is newer than the last boundary, else compacted.
    public func compactIfDue(level: CompactionLevel, now: Int64) async throws -> Outcome {
        let destination = try await client.ltxFiles(level: level.level)
        guard level.shouldCompact(newestAt: Self.newest(destination)?.createdAt, now: now) else { return .tooEarly }
        guard let info = try await compact(level: level.level, timestamp: nil, destination: destination) else {
            return .nothingToCompact
        }
        return .compacted(info)
    }

    /// Runs `compactIfDue` for the configured level numbered `level`.
    public func compactIfDue(level: Int, now: Int64) async throws -> Outcome {
        guard let config = levels.first(where: { $0.level == level }) else {
            throw CompactionError(.invalidLevel, "level \(level) is not a configured compaction level")
        }
        return try await compactIfDue(level: config, now: now)
    }

    /// The local one-TXID files that make up a level-0 file covering several TXIDs, if all of them exist.
    private func localParts(of file: LTXFileInfo) -> [LTXFileInfo]? {
        guard file.level == 0, file.minTXID < file.maxTXID, let localL0Path,
            file.maxTXID.rawValue - file.minTXID.rawValue < Self.maxLocalParts
        else { return nil }
        var parts: [LTXFileInfo] = []
        for t in file.minTXID.rawValue...file.maxTXID.rawValue {
            let part = LTXFileInfo(level: 0, minTXID: TXID(t), maxTXID: TXID(t), size: 0, createdAt: file.createdAt)
            guard let path = localL0Path(part), POSIX.exists(path) else { return nil }
            parts.append(part)
        }
        return parts
    }

    /// A merged level-0 file spanning more TXIDs than this is read from the replica (a merged upload holds at most
    /// `ReplicaWorker.maxMergedFiles`).
    static let maxLocalParts: UInt64 = 4096

    private func open(_ file: LTXFileInfo) async throws -> (ReplicaFileReader, String) {
        if file.level == 0, let path = localL0Path?(file) {
            // A local copy no longer there (retention removed it) falls back to the replica's copy.
            if let local = try OpenFile.ifExists(path) {
                return (ReplicaFileReader(local, file: file), "local L0 file \(path)")
            }
        }
        return (try await client.openLTXFile(file), file.description)
    }

    /// Holds a merge (whose decoders own the files they read), so the write closure captures no mutable local.
    private final class MergeJob {
        var merger: LTXMerger<ReplicaFileReader>
        init(_ merger: LTXMerger<ReplicaFileReader>) { self.merger = merger }
    }

    static func sortedByName(_ files: [LTXFileInfo]) -> [LTXFileInfo] {
        files.sorted { ($0.minTXID, $0.maxTXID) < ($1.minTXID, $1.maxTXID) }
    }
}
