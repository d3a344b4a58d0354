/// Rules shared by every merge of LTX files (compaction and restore): how inputs must follow each other and what
/// the merged file's header is. Pure functions, no I/O.
public enum LTXMerge {
    /// How the TXID ranges of consecutive inputs must relate.
    public enum Contiguity: Sendable, Hashable {
        /// Each input starts right after the previous one ends: `min == previous max + 1`. Compaction uses this.
        case strict
        /// Go's `ltx.IsContiguous`: `min <= previous max + 1 && max > previous max`. An input may overlap the one
        /// before it (a restore plan may follow a snapshot `1-10` with an L1 file `5-15`); the newer version of each
        /// page still wins, which is right because the later file holds every page changed in its range.
        case overlapping
    }

    public static func isContiguous(previousMax: TXID, min: TXID, max: TXID, _ contiguity: Contiguity) -> Bool {
        switch contiguity {
        case .strict: return min.rawValue == previousMax.rawValue &+ 1
        case .overlapping: return min.rawValue <= previousMax.rawValue &+ 1 && max > previousMax
        }
    }

    /// The header of the file that merging `headers` (oldest first) produces, after checking that the inputs share
    /// a page size and follow each other.
    ///
    /// As `ltx.Compactor` with `HeaderFlagNoChecksum`: TXIDs from the first input's min to the last input's max,
    /// the last input's commit, flags `0x2`, no WAL coordinates, node ID 0, no pre-apply checksum. The timestamp is
    /// `timestamp` when given, else the newest input timestamp.
    ///
    /// - Parameter names: how errors name each input (same count as `headers`).
    public static func outputHeader(
        for headers: [LTXHeader], names: [String], contiguity: Contiguity = .strict, timestamp: Int64? = nil
    ) throws -> LTXHeader {
        guard let first = headers.first, let last = headers.last else {
            throw CompactionError(.noInputs, "nothing to merge: no input files")
        }
        precondition(names.count == headers.count, "one name per header")
        for i in headers.indices.dropFirst() {
            let prev = headers[i - 1], h = headers[i]
            guard h.pageSize == first.pageSize else {
                throw CompactionError(.pageSizeMismatch,
                    "input files have mismatched page sizes: \(names[0]) has \(first.pageSize) bytes, "
                        + "\(names[i]) has \(h.pageSize)")
            }
            guard isContiguous(previousMax: prev.maxTXID, min: h.minTXID, max: h.maxTXID, contiguity) else {
                throw CompactionError(.nonContiguous,
                    "non-contiguous transaction ids in input files: \(names[i - 1]) (\(prev.minTXID)-\(prev.maxTXID)) "
                        + "is followed by \(names[i]) (\(h.minTXID)-\(h.maxTXID)); the next file must start at "
                        + "\(prev.maxTXID.next)")
            }
        }
        return LTXHeader(
            pageSize: first.pageSize, commit: last.commit, minTXID: first.minTXID, maxTXID: last.maxTXID,
            timestamp: timestamp ?? headers.map(\.timestamp).max()!,
            flags: LTXHeader.flagNoChecksum, preApplyChecksum: 0, nodeID: 0)
    }
}

/// A streaming k-way merge of LTX files, as Go's `ltx.Compactor`: for every page number the version from the newest
/// input holding it wins, pages beyond the final commit are dropped, the lock page is never produced, and when the
/// first input is a snapshot the output is a snapshot holding every page `1...commit`.
///
/// Memory stays bounded whatever the file sizes: each input is decoded sequentially with one page buffer (plus its
/// decoder's read buffer). Every input is verified completely, checksum included, before the merge reports success.
///
/// ```swift
/// var merger = try LTXMerger(decoders)           // reads and checks the headers
/// let header = merger.header                      // name the output before writing it
/// try merger.merge(into: sink)                    // or mergePages { pgno, page in ... } to apply to a database
/// ```
/// A merger is used once.
public struct LTXMerger<Input: LTXInput> {
    /// The merged file's header.
    public let header: LTXHeader
    /// The inputs' headers, oldest first.
    public let inputHeaders: [LTXHeader]
    private var inputs: [LTXDecoder<Input>]
    private let names: [String]
    private var used = false

    /// Reads every input's header and computes the output header (see `LTXMerge.outputHeader`).
    ///
    /// - Parameters:
    ///   - inputs: decoders positioned at the start of their files, oldest first.
    ///   - timestamp: the output timestamp; by default the newest input timestamp.
    public init(_ inputs: [LTXDecoder<Input>], contiguity: LTXMerge.Contiguity = .strict, timestamp: Int64? = nil) throws {
        var inputs = inputs
        var headers: [LTXHeader] = []
        headers.reserveCapacity(inputs.count)
        for i in inputs.indices { headers.append(try inputs[i].readHeader()) }
        let names = inputs.indices.map { i in
            inputs[i].name ?? "input #\(i) (\(LTXFileName.format(min: headers[i].minTXID, max: headers[i].maxTXID)))"
        }
        self.header = try LTXMerge.outputHeader(for: headers, names: names, contiguity: contiguity, timestamp: timestamp)
        self.inputHeaders = headers
        self.inputs = inputs
        self.names = names
    }

    /// Calls `body` with each page of the merged result, in ascending page order, then verifies every input to its
    /// end (page index, trailer, file checksum). For a snapshot, throws if some page `1...commit` is in no input.
    public mutating func mergePages(_ body: (_ pgno: UInt32, _ page: UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(!used, "an LTXMerger merges once")
        used = true
        let n = inputs.count
        let commit = header.commit, lockPage = header.lockPage
        var buffers = [[UInt8]](repeating: [UInt8](repeating: 0, count: Int(header.pageSize)), count: n)
        var pending = [UInt32](repeating: 0, count: n)  // page held in buffers[i]; 0 = none
        var exhausted = [Bool](repeating: false, count: n)
        var density = header.isSnapshot ? SnapshotPageSequence(commit: commit, lockPage: lockPage) : nil

        while true {
            var pgno: UInt32 = 0
            for i in 0..<n {
                if pending[i] == 0 && !exhausted[i] {
                    if let p = try buffers[i].withUnsafeMutableBytes({ (b) throws in try inputs[i].nextPage(into: b) }) {
                        pending[i] = p
                    } else {
                        exhausted[i] = true
                    }
                }
                if pending[i] != 0 && (pgno == 0 || pending[i] < pgno) { pgno = pending[i] }
            }
            if pgno == 0 { break }

            // The newest input holding the page wins; the others' copies are dropped.
            var winner = -1
            for i in stride(from: n - 1, through: 0, by: -1) where pending[i] == pgno {
                pending[i] = 0
                if winner < 0 { winner = i }
            }
            if pgno > commit || pgno == lockPage { continue }
            if let missing = density?.next(pgno) { throw missingPage(missing) }
            try buffers[winner].withUnsafeBytes { try body(pgno, $0) }
        }
        if let missing = density?.end() { throw missingPage(missing) }
        for i in 0..<n { try inputs[i].finish() }
    }

    /// Merges into a new LTX file (current encoding) whose bytes go to `sink`, and returns its trailer.
    @discardableResult
    public mutating func merge(into sink: (UnsafeRawBufferPointer) throws -> Void) throws -> LTXTrailer {
        let header = self.header
        return try withoutActuallyEscaping(sink) { sink in
            var encoder = try LTXEncoder(header: header, sink: sink)
            try mergePages { pgno, page in try encoder.encodePage(pgno, page) }
            return try encoder.finish()
        }
    }

    private func missingPage(_ pgno: UInt32) -> CompactionError {
        CompactionError(.incompleteSnapshot,
            "merged snapshot \(LTXFileName.format(min: header.minTXID, max: header.maxTXID)) of \(header.commit) pages "
                + "lacks page \(pgno): no input holds it (inputs: \(names.joined(separator: ", ")))")
    }
}

/// The pages a snapshot must hold, in order: every page `1...commit` except the lock page.
struct SnapshotPageSequence {
    let commit: UInt32
    let lockPage: UInt32
    /// The next page the snapshot must produce.
    private(set) var expected: UInt32 = 1

    init(commit: UInt32, lockPage: UInt32) {
        self.commit = commit
        self.lockPage = lockPage
    }

    /// Records page `pgno` (pages arrive strictly ascending, never the lock page) and returns the first page it
    /// skipped over, if any.
    mutating func next(_ pgno: UInt32) -> UInt32? {
        if expected == lockPage { expected += 1 }
        guard pgno == expected else { return expected }
        expected += 1
        return nil
    }

    /// After the last page: the first page still missing, if any.
    func end() -> UInt32? {
        var e = expected
        if e == lockPage { e += 1 }
        return e > commit ? nil : e
    }
}
