#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
public struct LTXDecoder<Input: LTXInput> {
    public let name: String?
    public private(set) var header: LTXHeader?
    private var input: Input
    private var buffer: [UInt8]
    private var start = 0, end = 0
    private var consumed: UInt64 = 0  // absolute offset of buffer[start]
    private var crc = CRC64()
    private var lastPgno: UInt32 = 0
    private var pagesDone = false
    private var seen: [(pgno: UInt32, offset: UInt64, size: UInt64)] = []
    private var frameDecoder: LZ4.FrameDecoder?

    public init(_ input: Input, name: String? = nil, bufferSize: Int = 1 << 18) {
        self.input = input
        self.name = name
        self.buffer = [UInt8](repeating: 0, count: max(bufferSize, 1 << 16))
    }

    /// Pages decoded so far.
    public var pageCount: Int { seen.count }

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
    /// the page block has ended.
    public mutating func nextPage(into page: UnsafeMutableRawBufferPointer) throws -> UInt32? {
        do { return try decodeNextPage(into: page) } catch let error as LTXError { throw error.withFile(name) }
    }

    private mutating func decodeNextPage(into page: UnsafeMutableRawBufferPointer) throws -> UInt32? {
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
        crc.update(UnsafeRawBufferPointer(page))
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
    @discardableResult
    public mutating func finish() throws -> LTXTrailer {
        do { return try decodeFinish() } catch let error as LTXError { throw error.withFile(name) }
    }

    private mutating func decodeFinish() throws -> LTXTrailer {
        let h = try readHeader()
        if !pagesDone {
            var page = [UInt8](repeating: 0, count: Int(h.pageSize))
            while try page.withUnsafeMutableBytes({ (p) throws in try decodeNextPage(into: p) }) != nil {}
        }
        // Index: (pgno, offset, size)* then a zero pgno.
        let indexStart = consumed
        var entries: [(UInt32, UInt64, UInt64)] = []
        while true {
            let pgno = try uvarint()
            if pgno == 0 { break }
            let offset = try uvarint()
            let size = try uvarint()
            guard pgno <= UInt64(UInt32.max) else { throw LTXError(.invalidIndex, "page number \(pgno) out of range") }
            entries.append((UInt32(pgno), offset, size))
        }
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
        guard entries.count == seen.count,
            zip(entries, seen).allSatisfy({ $0.0 == $1.pgno && $0.1 == $1.offset && $0.2 == $1.size })
        else {
            throw LTXError(.invalidIndex, "page index does not match the \(seen.count) pages in the file")
        }
        if h.flags & LTXHeader.flagNoChecksum != 0, post != 0 {
            throw LTXError(.invalidHeader, "post-apply checksum set in a file flagged as checksum-less")
        }
        guard fileChecksum & LTXTrailer.checksumFlag != 0 else {
            throw LTXError(.checksumMismatch, "file checksum 0x\(String(fileChecksum, radix: 16)) lacks the checksum flag bit")
        }
        let computed = LTXTrailer.checksumFlag | crc.value
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

    // MARK: buffer

    private mutating func uvarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for i in 0..<10 {
            try need(1)
            let byte = buffer[start]
            take(1, hash: true)
            if i == 9 && byte > 1 { throw LTXError(.invalidIndex, "varint overflows 64 bits") }
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        throw LTXError(.invalidIndex, "varint overflows 64 bits")
    }

    private mutating func take(_ n: Int, hash: Bool) {
        if hash { buffer.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[start..<start + n])) } }
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

extension LTXDecoder {
    /// Decodes and verifies a whole file, calling `body` for each page.
    public mutating func decodeAll(_ body: (UInt32, UnsafeRawBufferPointer) throws -> Void) throws -> (LTXHeader, LTXTrailer) {
        let h = try readHeader()
        var page = [UInt8](repeating: 0, count: Int(h.pageSize))
        while let pgno = try page.withUnsafeMutableBytes({ (p) throws in try nextPage(into: p) }) {
            try page.withUnsafeBytes { try body(pgno, $0) }
        }
        return (h, try finish())
    }
}
