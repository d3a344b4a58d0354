/// Where an `LTXDecoder` reads bytes from.
public protocol LTXInput {
    /// Reads up to `buffer.count` bytes and returns how many; 0 means end of input.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Reads an LTX file from memory.
public struct LTXMemoryInput: LTXInput {
    private let bytes: [UInt8]
    private var position = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - position)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[position..<position + n])) }
        position += n
        return n
    }
}

/// Reads an LTX file from an open file descriptor, from its current position. The descriptor is not closed.
public struct LTXFileDescriptorInput: LTXInput {
    public let fd: Int32
    public init(fd: Int32) { self.fd = fd }
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc_read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw LTXError(.io, "read failed: \(String(cString: strerror(errno)))")
        }
    }
}

@inline(__always) private func Glibc_read(_ fd: Int32, _ p: UnsafeMutableRawPointer?, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.read(fd, p, n)
    #else
    return Darwin.read(fd, p, n)
    #endif
}

/// Reads one LTX file sequentially and verifies it completely: header rules, page order, every page's
/// decompression, the page index against the pages actually seen, and the CRC-64 file checksum.
///
/// Reads both page encodings: the current size-prefixed LZ4 block (flag 1) and the legacy per-page LZ4 frame
/// (flag 0) that Litestream 0.5.0 – 0.5.15 wrote. Every error names `name`, so a user learns which file is damaged.
///
/// With `deferPageChecksums`, the decoder does not hash the pages it hands out (the bulk of its CPU time): it keeps
/// the CRC-64 and length of each run of other hashed bytes, one placeholder per page, and `finish(pageChecksums:)`
/// takes the CRC-64 of every page returned by `nextPage`, in order, and folds them in with `CRC64.combine`. The
/// file checksum is verified exactly as without deferral — provided the caller hashes the very bytes it was given.
public struct LTXDecoder<Input: LTXInput> {
    public let name: String?
    /// True if pages returned by `nextPage` are not hashed here; see `finish(pageChecksums:)`.
    public let defersPageChecksums: Bool
    public private(set) var header: LTXHeader?
    private var input: Input
    private var buffer: [UInt8]
    private var start = 0, end = 0
    private var consumed: UInt64 = 0  // absolute offset of buffer[start]
    private var crc = CRC64()  // of the hashed bytes so far; with deferral, of those since the last deferred page
    private var runLength = 0  // bytes in `crc`
    /// With deferral: the CRC and length of the hashed bytes before each page handed out unhashed.
    private var runs: [(crc: UInt64, length: Int)] = []
    private var lastPgno: UInt32 = 0
    private var pagesDone = false
    private var seen: [(pgno: UInt32, offset: UInt64, size: UInt64)] = []
    private var frameDecoder: LZ4.FrameDecoder?

    public init(_ input: Input, name: String? = nil, bufferSize: Int = 1 << 18, deferPageChecksums: Bool = false) {
        self.input = input
        self.name = name
        self.defersPageChecksums = deferPageChecksums
        // It grows when a page block needs more; small files (L0 files of a few KiB) need no more than themselves.
        self.buffer = [UInt8](repeating: 0, count: max(bufferSize, 4096))
    }

    /// Pages decoded so far.
    public var pageCount: Int { seen.count }

    /// Pages handed out whose checksums `finish(pageChecksums:)` expects (0 without deferral).
    public var deferredPageCount: Int { runs.count }

    /// Reads and validates the header.
    public mutating func readHeader() throws -> LTXHeader {
        if let header { return header }
        do {
            try need(LTXHeader.size)
            let h = try buffer.withUnsafeBytes { (b) throws in
                try LTXHeader(decoding: UnsafeRawBufferPointer(rebasing: b[start..<start + LTXHeader.size]))
            }
            take(LTXHeader.size, hash: true)
            header = h
            return h
        } catch let error as LTXError { throw error.withFile(name) }
    }

    /// Decodes the next page into `page` (which must be exactly one page long) and returns its number, or nil once
    /// the page block has ended. With deferral, the caller owes `finish(pageChecksums:)` the CRC-64 of `page` as
    /// this call leaves it.
    public mutating func nextPage(into page: UnsafeMutableRawBufferPointer) throws -> UInt32? {
        do { return try decodeNextPage(into: page, hash: !defersPageChecksums) } catch let error as LTXError {
            throw error.withFile(name)
        }
    }

    private mutating func decodeNextPage(into page: UnsafeMutableRawBufferPointer, hash: Bool) throws -> UInt32? {
        let h = try readHeader()
        if pagesDone { return nil }
        guard page.count == Int(h.pageSize) else {
            throw LTXError(.encoderMisuse, "page buffer is \(page.count) bytes, want \(h.pageSize)")
        }
        let frameOffset = consumed
        try need(6)
        let (pgno, flags): (UInt32, UInt16) = buffer.withUnsafeBytes { b in
            (b.loadBE(at: start), b.loadBE(at: start + 4))
        }
        if pgno == 0 {
            guard flags == 0 else { throw LTXError(.invalidPage, "end-of-pages header has flags \(flags)") }
            if h.isSnapshot {
                // A snapshot holds every page 1...commit (bar the lock page); a short one would restore a short database.
                var last = h.commit
                if last == h.lockPage { last -= 1 }
                guard lastPgno == last else {
                    throw LTXError(.invalidPage, "snapshot ends at page \(lastPgno) but the database has \(h.commit) pages")
                }
            }
            take(6, hash: true)
            pagesDone = true
            return nil
        }
        guard pgno > lastPgno else {
            throw LTXError(.invalidPage, "page \(pgno) follows page \(lastPgno); pages must ascend")
        }
        guard pgno <= h.commit else {
            throw LTXError(.invalidPage, "page \(pgno) is beyond the commit size of \(h.commit) pages")
        }
        guard pgno != h.lockPage else {
            throw LTXError(.invalidPage, "file stores SQLite's lock page \(pgno)")
        }
        if h.isSnapshot {
            var expected = lastPgno + 1
            if expected == h.lockPage { expected += 1 }
            guard pgno == expected else {
                throw LTXError(.invalidPage, "snapshot skips from page \(lastPgno) to \(pgno)")
            }
        }
        switch flags {
        case 1:
            try need(10)
            let size = Int(buffer.withUnsafeBytes { $0.loadBE(at: start + 6, as: UInt32.self) })
            guard size > 0, size <= LZ4.compressBound(Int(h.pageSize)) + 16 else {
                throw LTXError(.invalidPage, "page \(pgno) has an implausible compressed size of \(size) bytes")
            }
            take(10, hash: true)
            try need(size)
            try buffer.withUnsafeBytes { (b) throws in
                do {
                    try LZ4.decompressBlock(UnsafeRawBufferPointer(rebasing: b[start..<start + size]), into: page)
                } catch let error as LTXError {
                    throw LTXError(.decompression, "page \(pgno): \(error.message)")
                }
            }
            take(size, hash: false)
        case 0:
            take(6, hash: true)
            try decodeLegacyFrame(pgno: pgno, into: page)
        default:
            throw LTXError(.invalidPage, "page \(pgno) has unknown flags 0x\(String(flags, radix: 16))")
        }
        if hash {
            crc.update(UnsafeRawBufferPointer(page))
            runLength += page.count
        } else {
            runs.append((crc.value, runLength))
            crc = CRC64()
            runLength = 0
        }
        seen.append((pgno, frameOffset, consumed - frameOffset))
        lastPgno = pgno
        return pgno
    }

    private mutating func decodeLegacyFrame(pgno: UInt32, into page: UnsafeMutableRawBufferPointer) throws {
        // Litestream's reader only accepts a standard LZ4 frame that ends with a content checksum: it lets the frame
        // reader consume exactly 8 bytes (EndMark + checksum) after the page and then demands the frame's end.
        try need(6)
        let (magic, flg): (UInt32, UInt8) = buffer.withUnsafeBytes { b in
            (UInt32(littleEndian: b.loadUnaligned(fromByteOffset: start, as: UInt32.self)), b[start + 4])
        }
        guard magic == 0x184D_2204 else {
            throw LTXError(.decompression,
                "page \(pgno): legacy page is not an LZ4 frame (magic 0x\(String(magic, radix: 16)))")
        }
        guard flg & 0x04 != 0 else {
            throw LTXError(.decompression, "page \(pgno): legacy LZ4 frame has no content checksum")
        }
        let decoder = frameDecoder ?? LZ4.FrameDecoder()
        frameDecoder = decoder
        decoder.reset()
        var produced = 0
        while true {
            if start == end { try fill(minimum: 1) }
            // Never let liblz4 write past the page: a frame that expands further is corrupt.
            var scratch = (0 as UInt8)
            let result = try buffer.withUnsafeBytes { (b) throws in
                let src = UnsafeRawBufferPointer(rebasing: b[start..<end])
                if produced < page.count {
                    return try decoder.decode(src, into: UnsafeMutableRawBufferPointer(rebasing: page[produced...]))
                }
                return try withUnsafeMutableBytes(of: &scratch) { (s) throws in try decoder.decode(src, into: s) }
            }
            if produced >= page.count && result.produced > 0 {
                throw LTXError(.decompression, "legacy frame of page \(pgno) expands beyond \(page.count) bytes")
            }
            produced += result.produced
            take(result.consumed, hash: false)
            if result.done { break }
            if result.consumed == 0 && result.produced == 0 { try fill(minimum: end - start + 1) }
        }
        guard produced == page.count else {
            throw LTXError(.decompression, "legacy frame of page \(pgno) expands to \(produced) bytes, want \(page.count)")
        }
    }

    /// Reads the page index and trailer, checks them against the pages seen, verifies the file checksum and that
    /// nothing follows. Any pages not yet read are decoded (and discarded) first.
    ///
    /// Without deferral only; a deferring decoder needs `finish(pageChecksums:)`.
    @discardableResult
    public mutating func finish() throws -> LTXTrailer {
        do { return try decodeFinish(pageChecksums: nil) } catch let error as LTXError { throw error.withFile(name) }
    }

    /// `finish()` for a decoder made with `deferPageChecksums`: `pageChecksums` holds the CRC-64 (`CRC64.checksum`)
    /// of each page `nextPage` returned, in order — `deferredPageCount` of them. Pages not yet read are decoded and
    /// hashed here. A wrong count is an `.encoderMisuse` error; a wrong checksum a `.checksumMismatch`.
    @discardableResult
    public mutating func finish(pageChecksums: [UInt64]) throws -> LTXTrailer {
        do { return try decodeFinish(pageChecksums: pageChecksums) } catch let error as LTXError {
            throw error.withFile(name)
        }
    }

    private mutating func decodeFinish(pageChecksums: [UInt64]?) throws -> LTXTrailer {
        if defersPageChecksums {
            guard let pageChecksums else {
                throw LTXError(.encoderMisuse, "decoder defers page checksums: finish needs them")
            }
            guard pageChecksums.count == runs.count else {
                throw LTXError(.encoderMisuse,
                    "\(pageChecksums.count) page checksums given for \(runs.count) pages read")
            }
        } else if pageChecksums != nil {
            throw LTXError(.encoderMisuse, "page checksums given to a decoder that hashes pages itself")
        }
        let h = try readHeader()
        if !pagesDone {
            var page = [UInt8](repeating: 0, count: Int(h.pageSize))
            while try page.withUnsafeMutableBytes({ (p) throws in try decodeNextPage(into: p, hash: true) }) != nil {}
        }
        // Index: (pgno, offset, size)* then a zero pgno.
        let indexStart = consumed
        // Parsed a buffer at a time by a non-generic parser, and hashed likewise: per-varint calls through this
        // generic type cost more than the parse (tens of milliseconds for a large snapshot's index).
        var parser = IndexParser(expectedCount: seen.count)
        while true {
            try need(1)
            let (used, done) = try buffer.withUnsafeBytes { (b) throws(LTXError) in
                try parser.feed(UnsafeRawBufferPointer(rebasing: b[start..<end]))
            }
            take(used, hash: true)
            if done { break }
        }
        let entries = parser.entries
        let indexLength = consumed - indexStart
        try need(8 + LTXTrailer.size)
        let (declared, post, fileChecksum): (UInt64, UInt64, UInt64) = buffer.withUnsafeBytes { b in
            (b.loadBE(at: start), b.loadBE(at: start + 8), b.loadBE(at: start + 16))
        }
        take(16, hash: true)
        take(8, hash: false)
        guard declared == indexLength else {
            throw LTXError(.invalidIndex, "page index is \(indexLength) bytes but its size field says \(declared)")
        }
        guard indexMatches(entries, seen) else {
            throw LTXError(.invalidIndex, "page index does not match the \(seen.count) pages in the file")
        }
        if h.flags & LTXHeader.flagNoChecksum != 0, post != 0 {
            throw LTXError(.invalidHeader, "post-apply checksum set in a file flagged as checksum-less")
        }
        guard fileChecksum & LTXTrailer.checksumFlag != 0 else {
            throw LTXError(.checksumMismatch, "file checksum 0x\(String(fileChecksum, radix: 16)) lacks the checksum flag bit")
        }
        let computed = LTXTrailer.checksumFlag
            | (pageChecksums.map { fold(pageChecksums: $0, pageSize: Int(h.pageSize)) } ?? crc.value)
        guard computed == fileChecksum else {
            throw LTXError(.checksumMismatch,
                "file checksum mismatch: stored 0x\(String(fileChecksum, radix: 16)), computed 0x\(String(computed, radix: 16))")
        }
        if start == end, try readMore() > 0 || start != end {
            throw LTXError(.trailingData, "unexpected bytes after the trailer")
        } else if start != end {
            throw LTXError(.trailingData, "unexpected bytes after the trailer")
        }
        return LTXTrailer(postApplyChecksum: post, fileChecksum: fileChecksum)
    }

    /// The CRC of the whole hashed stream: each run, then its page, ..., then the bytes since the last page.
    private func fold(pageChecksums: [UInt64], pageSize: Int) -> UInt64 {
        let page = CRC64.Shift.cached(length: pageSize)
        var total: UInt64 = 0  // the CRC of nothing: combining onto it yields the other CRC
        pageChecksums.withUnsafeBufferPointer { sums in
            for (i, run) in runs.enumerated() {
                // A run is short: a page header (and, before the first page, the file header).
                total = page.combine(CRC64.combine(total, run.crc, length2: run.length), sums[i])
            }
        }
        return CRC64.combine(total, crc.value, length2: runLength)
    }

    // MARK: buffer

    private mutating func take(_ n: Int, hash: Bool) {
        if hash {
            buffer.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[start..<start + n])) }
            runLength += n
        }
        start += n
        consumed += UInt64(n)
    }

    private mutating func need(_ n: Int) throws {
        if end - start < n { try fill(minimum: n) }
    }

    private mutating func fill(minimum n: Int) throws {
        if start > 0 {
            let count = end - start
            buffer.withUnsafeMutableBytes { b in
                b.baseAddress!.copyMemory(from: b.baseAddress! + start, byteCount: count)
            }
            start = 0
            end = count
        }
        if buffer.count < n { buffer += [UInt8](repeating: 0, count: n - buffer.count) }
        while end < n {
            if try readMore() == 0 {
                throw LTXError(.truncated, "file ends early at byte \(consumed + UInt64(end - start))")
            }
        }
    }

    private mutating func readMore() throws -> Int {
        if end == buffer.count {
            if start > 0 { try fill(minimum: 0) } else { buffer += [UInt8](repeating: 0, count: buffer.count) }
        }
        let e = end
        let n: Int
        do {
            n = try buffer.withUnsafeMutableBytes { b in try input.read(into: UnsafeMutableRawBufferPointer(rebasing: b[e...])) }
        } catch let error as LTXError {
            throw error
        } catch {
            throw LTXError(.io, "read failed", cause: error)
        }
        end += n
        return n
    }
}

/// The page index's varints — (pgno, offset, size)* then a zero pgno — fed in pieces as they arrive.
private struct IndexParser {
    var entries: [(pgno: UInt32, offset: UInt64, size: UInt64)] = []
    private var field = 0  // 0: pgno, 1: offset, 2: size
    private var value: UInt64 = 0
    private var shift: UInt64 = 0
    private var length = 0  // bytes of the current varint so far
    private var pgno: UInt64 = 0
    private var offset: UInt64 = 0

    init(expectedCount: Int) { entries.reserveCapacity(expectedCount) }

    /// Consumes bytes up to the end of `bytes` or of the index; returns how many and whether the index ended.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(LTXError) -> (used: Int, done: Bool) {
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            i += 1
            if length == 9 && byte > 1 { throw LTXError(.invalidIndex, "varint overflows 64 bits") }
            value |= UInt64(byte & 0x7f) << shift
            if byte >= 0x80 {
                shift += 7
                length += 1
                continue
            }
            let v = value
            (value, shift, length) = (0, 0, 0)
            switch field {
            case 0:
                if v == 0 { return (i, true) }
                pgno = v
                field = 1
            case 1:
                offset = v
                field = 2
            default:
                guard pgno <= UInt64(UInt32.max) else { throw LTXError(.invalidIndex, "page number \(pgno) out of range") }
                entries.append((UInt32(pgno), offset, v))
                field = 0
            }
        }
        return (i, false)
    }
}

private func indexMatches(
    _ entries: [(pgno: UInt32, offset: UInt64, size: UInt64)], _ seen: [(pgno: UInt32, offset: UInt64, size: UInt64)]
) -> Bool {
    guard entries.count == seen.count else { return false }
    for (e, s) in zip(entries, seen) where e.pgno != s.pgno || e.offset != s.offset || e.size != s.size { return false }
    return true
}

extension LTXDecoder {
    /// Decodes and verifies a whole file, calling `body` for each page.
    public mutating func decodeAll(_ body: (UInt32, UnsafeRawBufferPointer) throws -> Void) throws -> (LTXHeader, LTXTrailer) {
        let h = try readHeader()
        var page = [UInt8](repeating: 0, count: Int(h.pageSize))
        var sums: [UInt64] = []
        while let pgno = try page.withUnsafeMutableBytes({ (p) throws in try nextPage(into: p) }) {
            if defersPageChecksums { sums.append(CRC64.checksum(page)) }
            try page.withUnsafeBytes { try body(pgno, $0) }
        }
        return (h, try defersPageChecksums ? finish(pageChecksums: sums) : finish())
    }
}
