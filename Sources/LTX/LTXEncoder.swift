/// Writes one LTX file in the current encoding (header flag `0x2`, each page a size-prefixed LZ4 block), streaming
/// its bytes to `sink` in chunks so that memory stays bounded however large the file.
///
/// The encoder enforces Litestream's writer rules: pages strictly ascending, none above `commit`, never the lock
/// page, and for a snapshot every page from 1 to `commit`.
public struct LTXEncoder {
    public typealias Sink = (UnsafeRawBufferPointer) throws -> Void

    public let header: LTXHeader
    private let sink: Sink
    private var out: [UInt8] = []
    private var offset: UInt64 = 0
    private var crc = CRC64()
    private var lastPgno: UInt32 = 0
    private var index: [UInt8] = []
    private var scratch: [UInt8]
    /// Bytes buffered before they go to the sink (every chunk but the last is at least this large): large enough
    /// that writes are few, small enough to cost little memory.
    public static let flushThreshold = 256 << 10
    private var pageCount = 0
    private var finished = false

    public init(header: LTXHeader, sink: @escaping Sink) throws {
        try header.validate()
        self.header = header
        self.sink = sink
        self.scratch = [UInt8](repeating: 0, count: LZ4.compressBound(Int(header.pageSize)))
        // Reserved whole, never grown: growing by doubling copies, and briefly holds the old and the new buffer.
        // Above malloc's mmap threshold the reservation is mapped, and only the pages a file fills are touched.
        out.reserveCapacity(Self.flushThreshold + scratch.count + 64)
        let h = header.encoded()
        crc.update(h)
        out += h
    }

    /// The number of pages written so far.
    public var pagesWritten: Int { pageCount }

    public mutating func encodePage(_ pgno: UInt32, _ data: UnsafeRawBufferPointer) throws {
        guard !finished else {
            throw LTXError(.encoderMisuse, "page \(pgno) written after the file was finished")
        }
        guard data.count == Int(header.pageSize) else {
            throw LTXError(.encoderMisuse, "page \(pgno) is \(data.count) bytes, want \(header.pageSize)")
        }
        guard pgno > lastPgno else {
            throw LTXError(.encoderMisuse, "page \(pgno) written after page \(lastPgno); pages must ascend")
        }
        guard pgno <= header.commit else {
            throw LTXError(.encoderMisuse, "page \(pgno) is beyond the commit size of \(header.commit) pages")
        }
        guard pgno != header.lockPage else {
            throw LTXError(.encoderMisuse, "page \(pgno) is SQLite's lock page and is never stored")
        }
        if header.isSnapshot {
            var expected = lastPgno + 1
            if expected == header.lockPage { expected += 1 }
            guard pgno == expected else {
                throw LTXError(.encoderMisuse, "snapshot skips from page \(lastPgno) to \(pgno)")
            }
        }
        let n = scratch.withUnsafeMutableBytes { LZ4.compress(data, into: $0) }
        var frameHeader = [UInt8]()
        frameHeader.reserveCapacity(10)
        frameHeader.appendBE(pgno)
        frameHeader.appendBE(UInt16(1))  // PageHeaderFlagSize: a u32 block size follows.
        frameHeader.appendBE(UInt32(n))
        let frameOffset = offset + UInt64(out.count)
        out += frameHeader
        scratch.withUnsafeBytes { out.append(contentsOf: $0.prefix(n)) }
        crc.update(frameHeader)
        crc.update(data)
        index.appendUvarint(UInt64(pgno))
        index.appendUvarint(frameOffset)
        index.appendUvarint(UInt64(10 + n))
        lastPgno = pgno
        pageCount += 1
        if out.count >= Self.flushThreshold { try flush() }
    }

    public mutating func encodePage(_ pgno: UInt32, _ data: [UInt8]) throws {
        try data.withUnsafeBytes { try encodePage(pgno, $0) }
    }

    /// Writes the end of the page block, the page index and the trailer, and flushes everything to the sink.
    @discardableResult
    public mutating func finish() throws -> LTXTrailer {
        guard !finished else { throw LTXError(.encoderMisuse, "the file was already finished") }
        if header.isSnapshot {
            var last = header.commit
            if last == header.lockPage { last -= 1 }
            guard lastPgno == last || header.commit == 0 else {
                throw LTXError(.encoderMisuse, "snapshot ends at page \(lastPgno) but the database has \(header.commit) pages")
            }
        }
        let terminator = [UInt8](repeating: 0, count: 6)
        out += terminator
        crc.update(terminator)
        index.appendUvarint(0)
        var tail = index
        tail.appendBE(UInt64(index.count))
        tail.appendBE(UInt64(0))  // post-apply checksum: always zero with the no-checksum flag
        crc.update(tail)
        let trailer = LTXTrailer(postApplyChecksum: 0, fileChecksum: LTXTrailer.checksumFlag | crc.value)
        out += tail
        out.appendBE(trailer.fileChecksum)
        finished = true
        try flush()
        return trailer
    }

    private mutating func flush() throws {
        guard !out.isEmpty else { return }
        try out.withUnsafeBytes { try sink($0) }
        offset += UInt64(out.count)
        out.removeAll(keepingCapacity: true)
    }
}
