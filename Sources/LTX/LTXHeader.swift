/// The 100-byte header that starts every LTX file. All integers are big-endian.
public struct LTXHeader: Sendable, Equatable {
    public static let size = 100
    public static let magic: [UInt8] = Array("LTX1".utf8)
    /// The only header flag: the file carries no database checksums. Litestream 0.5.17 refuses files without it.
    public static let flagNoChecksum: UInt32 = 1 << 1

    public var flags: UInt32
    public var pageSize: UInt32
    /// Database size in pages once this file is applied.
    public var commit: UInt32
    public var minTXID: TXID
    public var maxTXID: TXID
    /// Unix milliseconds.
    public var timestamp: Int64
    public var preApplyChecksum: UInt64
    /// Where in the source WAL the file's frames started, 0 if it was not read from a WAL.
    public var walOffset: Int64
    /// How many WAL bytes the file covers.
    public var walSize: Int64
    public var walSalt1: UInt32
    public var walSalt2: UInt32
    public var nodeID: UInt64

    public init(
        pageSize: UInt32, commit: UInt32, minTXID: TXID, maxTXID: TXID, timestamp: Int64,
        walOffset: Int64 = 0, walSize: Int64 = 0, walSalt1: UInt32 = 0, walSalt2: UInt32 = 0,
        flags: UInt32 = LTXHeader.flagNoChecksum, preApplyChecksum: UInt64 = 0, nodeID: UInt64 = 0
    ) {
        self.flags = flags
        self.pageSize = pageSize
        self.commit = commit
        self.minTXID = minTXID
        self.maxTXID = maxTXID
        self.timestamp = timestamp
        self.preApplyChecksum = preApplyChecksum
        self.walOffset = walOffset
        self.walSize = walSize
        self.walSalt1 = walSalt1
        self.walSalt2 = walSalt2
        self.nodeID = nodeID
    }

    /// A snapshot starts at TXID 1 and holds every page of the database.
    public var isSnapshot: Bool { minTXID == TXID(1) }

    /// WAL offset at which the next sync should resume reading, per Litestream's convention.
    public var walEnd: Int64 { walOffset + walSize }

    /// SQLite's lock page (the page holding the PENDING byte at 1 GiB), which is never stored.
    public static func lockPage(pageSize: UInt32) -> UInt32 { UInt32(0x4000_0000 / Int(pageSize)) + 1 }
    public var lockPage: UInt32 { Self.lockPage(pageSize: pageSize) }

    public static func isValidPageSize(_ size: UInt32) -> Bool {
        size >= 512 && size <= 65536 && size & (size - 1) == 0
    }

    /// Checks the rules `ltx.Header.Validate` enforces, so we never write a file Litestream would refuse.
    public func validate() throws {
        guard flags & ~Self.flagNoChecksum == 0 else {
            throw LTXError(.invalidHeader, "unknown header flags 0x\(String(flags, radix: 16))")
        }
        guard Self.isValidPageSize(pageSize) else {
            throw LTXError(.invalidHeader, "invalid page size \(pageSize)")
        }
        guard minTXID.rawValue >= 1, maxTXID.rawValue >= 1 else {
            throw LTXError(.invalidHeader, "transaction IDs must be at least 1 (min \(minTXID), max \(maxTXID))")
        }
        guard minTXID <= maxTXID else {
            throw LTXError(.invalidHeader, "min TXID \(minTXID) is after max TXID \(maxTXID)")
        }
        guard walOffset >= 0, walSize >= 0 else {
            throw LTXError(.invalidHeader, "negative WAL offset or size")
        }
        if walOffset == 0 && walSize != 0 {
            throw LTXError(.invalidHeader, "WAL size \(walSize) without a WAL offset")
        }
        if walOffset == 0 && (walSalt1 != 0 || walSalt2 != 0) {
            throw LTXError(.invalidHeader, "WAL salts without a WAL offset")
        }
        if isSnapshot || flags & Self.flagNoChecksum != 0 {
            guard preApplyChecksum == 0 else {
                throw LTXError(.invalidHeader, "pre-apply checksum must be zero for snapshots and checksum-less files")
            }
        } else {
            // A file that tracks database checksums must carry a well-formed pre-apply checksum.
            guard preApplyChecksum & LTXTrailer.checksumFlag != 0 else {
                throw LTXError(.invalidHeader,
                    "pre-apply checksum 0x\(String(preApplyChecksum, radix: 16)) is missing or lacks the checksum flag bit")
            }
        }
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8]()
        b.reserveCapacity(Self.size)
        b += Self.magic
        b.appendBE(flags)
        b.appendBE(pageSize)
        b.appendBE(commit)
        b.appendBE(minTXID.rawValue)
        b.appendBE(maxTXID.rawValue)
        b.appendBE(UInt64(bitPattern: timestamp))
        b.appendBE(preApplyChecksum)
        b.appendBE(UInt64(bitPattern: walOffset))
        b.appendBE(UInt64(bitPattern: walSize))
        b.appendBE(walSalt1)
        b.appendBE(walSalt2)
        b.appendBE(nodeID)
        b += [UInt8](repeating: 0, count: Self.size - b.count)
        return b
    }

    /// Decodes and validates a header. `bytes` must hold at least 100 bytes.
    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count >= Self.size else {
            throw LTXError(.truncated, "file is \(bytes.count) bytes, shorter than the 100-byte header")
        }
        guard Array(bytes[0..<4]) == Self.magic else {
            throw LTXError(.badMagic, "not an LTX file: magic is \(Array(bytes[0..<4]).hexString), want 4c545831 (\"LTX1\")")
        }
        self.init(
            pageSize: bytes.loadBE(at: 8), commit: bytes.loadBE(at: 12),
            minTXID: TXID(bytes.loadBE(at: 16)), maxTXID: TXID(bytes.loadBE(at: 24)),
            timestamp: Int64(bitPattern: bytes.loadBE(at: 32)),
            walOffset: Int64(bitPattern: bytes.loadBE(at: 48)), walSize: Int64(bitPattern: bytes.loadBE(at: 56)),
            walSalt1: bytes.loadBE(at: 64), walSalt2: bytes.loadBE(at: 68),
            flags: bytes.loadBE(at: 4), preApplyChecksum: bytes.loadBE(at: 40), nodeID: bytes.loadBE(at: 72)
        )
        try validate()
    }
}

/// The 16 bytes that end an LTX file.
public struct LTXTrailer: Sendable, Equatable {
    public static let size = 16
    public static let checksumFlag: UInt64 = 1 << 63
    public var postApplyChecksum: UInt64
    public var fileChecksum: UInt64
}

extension Array where Element == UInt8 {
    @inlinable mutating func appendBE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.bigEndian) { append(contentsOf: $0) }
    }

    mutating func appendUvarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }

    var hexString: String { map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
}

extension ArraySlice where Element == UInt8 {
    var hexString: String { Array(self).hexString }
}

extension UnsafeRawBufferPointer {
    @inlinable func loadBE<T: FixedWidthInteger>(at offset: Int, as: T.Type = T.self) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
