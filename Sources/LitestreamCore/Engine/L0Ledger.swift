import LTX

/// What a replica's worker knows it wrote to the replica's level 0, so that a listing of that level tells its own
/// files from another writer's, and notices when its files are gone (the replica deleted or emptied).
///
/// A file replica is checked before every upload (a directory read); an object store, whose listings are billed,
/// with the level-0 listing that L1 compaction makes anyway, and by conditional writes (see ``ReplicaClient``).
struct L0Ledger: Sendable {
    /// Files ending at or below this TXID are taken as they are: the position taken over, or checked already.
    private(set) var base: TXID = .zero
    /// Level-0 files this worker uploaded that end above `base`, in upload order, plus the newest one it uploaded.
    private(set) var written: [ClosedRange<TXID>] = []

    /// What a listing shows.
    enum Finding: Equatable {
        case consistent
        /// Files ending after `base` that this worker did not write.
        case foreign([ClosedRange<TXID>])
        /// A file this worker wrote (and nothing may have deleted) is not in the listing.
        case missing(ClosedRange<TXID>)
    }

    /// Starts over at `position` (a replica taken over, or found empty).
    mutating func reset(at position: TXID) {
        base = position
        written = []
    }

    mutating func wrote(_ range: ClosedRange<TXID>) {
        written.append(range)
    }

    /// Checks a listing of the replica's level 0.
    func check(_ files: [ClosedRange<TXID>]) -> Finding {
        let ours = Set(written)
        let foreign = files.filter { $0.upperBound > base && !ours.contains($0) }
        if !foreign.isEmpty { return .foreign(foreign.sorted { $0.lowerBound < $1.lowerBound }) }
        // Level-0 retention deletes only files that L1 covers, which `checked(through:)` dropped from `written`,
        // and never the newest: every file left in it must be there.
        let listed = Set(files)
        if let gone = written.first(where: { !listed.contains($0) }) { return .missing(gone) }
        return .consistent
    }

    /// After a consistent listing: files up to `txid` need no further check (the newest one is still looked for).
    mutating func checked(through txid: TXID) {
        guard txid > base else { return }
        base = txid
        let last = written.last
        written.removeAll { $0.upperBound <= txid }
        if let last, written.last != last { written.append(last) }
    }

    /// The error a finding is reported with (nil when consistent).
    func error(for finding: Finding, location: String) -> EngineError? {
        switch finding {
        case .consistent:
            return nil
        case .foreign(let files):
            let names = files.prefix(3).map { LTXFileName.format(min: $0.lowerBound, max: $0.upperBound) }
            return EngineError(.foreignWriter,
                "another process writes to replica \(location): level-0 file(s) \(names.joined(separator: ", ")) "
                    + "were not written by this replicator, which stopped writing to it. Give each database a "
                    + "replica of its own (or stop the other writer), then restart replicate")
        case .missing(let file):
            return EngineError(.replicaLost,
                "replica \(location) lost level-0 file \(LTXFileName.format(min: file.lowerBound, max: file.upperBound)) "
                    + "that this replicator wrote (the replica was deleted or emptied); writing a snapshot again")
        }
    }
}
