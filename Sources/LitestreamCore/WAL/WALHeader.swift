/// The 32-byte header at the start of a SQLite `-wal` file (https://www.sqlite.org/fileformat2.html#walformat).
///
/// All fields are stored big-endian. The magic number says in which byte order the 32-bit words are read when
/// computing checksums: `0x377f0682` little-endian, `0x377f0683` big-endian (SQLite writes the host's order).
struct WALHeader: Equatable, Sendable {
    static let size = 32
    static let magicLittleEndian: UInt32 = 0x377f_0682
    static let magicBigEndian: UInt32 = 0x377f_0683
    static let supportedVersion: UInt32 = 3_007_000

    /// True when the magic is `0x377f0683` (checksum words are big-endian).
    var bigEndianChecksums: Bool
    var version: UInt32
    var pageSize: UInt32
    var checkpointSequence: UInt32
    var salt1: UInt32
    var salt2: UInt32
    /// The checksum of the first 24 header bytes; it also seeds the checksum chain of the first frame.
    var checksum1: UInt32
    var checksum2: UInt32

    /// Parses the first 32 bytes of `bytes`.
    ///
    /// Returns nil when the bytes are not a valid WAL header: too short, bad magic, version other than 3007000,
    /// header checksum mismatch (SQLite treats such a WAL as empty), or a page size that is not a power of two in
    /// 512...65536.
    init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= WALHeader.size, let base = bytes.baseAddress else { return nil }
        func be(_ offset: Int) -> UInt32 { UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }

        let magic = be(0)
        switch magic {
        case WALHeader.magicLittleEndian: bigEndianChecksums = false
        case WALHeader.magicBigEndian: bigEndianChecksums = true
        default: return nil
        }
        version = be(4)
        pageSize = be(8)
        checkpointSequence = be(12)
        salt1 = be(16)
        salt2 = be(20)
        checksum1 = be(24)
        checksum2 = be(28)

        guard version == WALHeader.supportedVersion else { return nil }
        guard pageSize >= 512, pageSize <= 65536, pageSize & (pageSize &- 1) == 0 else { return nil }
        var s1: UInt32 = 0
        var s2: UInt32 = 0
        WALChecksum.update(base, count: 24, bigEndian: bigEndianChecksums, s1: &s1, s2: &s2)
        guard s1 == checksum1, s2 == checksum2 else { return nil }
    }

    /// Size of one frame: the 24-byte frame header plus one page.
    var frameSize: Int64 { 24 + Int64(pageSize) }

    /// The salt pair that names one WAL generation: SQLite picks a new pair whenever it restarts the WAL, and every
    /// frame of the generation carries it. Same salts, same generation: frames at an offset are the ones read there.
    struct Salts: Equatable, Sendable {
        var salt1: UInt32, salt2: UInt32
        /// What an LTX file records when it covers no WAL generation.
        static let zero = Salts(salt1: 0, salt2: 0)
    }

    var salts: Salts { Salts(salt1: salt1, salt2: salt2) }
}

/// The 24-byte header in front of each page in a WAL file. All fields are big-endian on disk.
struct WALFrameHeader: Equatable, Sendable {
    static let size = 24

    /// The page number this frame holds.
    var pgno: UInt32
    /// For a commit frame, the database size in pages after the commit; 0 for every other frame.
    var commit: UInt32
    var salt1: UInt32
    var salt2: UInt32
    /// The cumulative checksum up to and including this frame.
    var checksum1: UInt32
    var checksum2: UInt32

    init(pgno: UInt32, commit: UInt32, salt1: UInt32, salt2: UInt32, checksum1: UInt32, checksum2: UInt32) {
        self.pgno = pgno
        self.commit = commit
        self.salt1 = salt1
        self.salt2 = salt2
        self.checksum1 = checksum1
        self.checksum2 = checksum2
    }

    /// Decodes the first 24 bytes at `base` (the caller guarantees they are readable).
    init(decoding base: UnsafeRawPointer) {
        func be(_ offset: Int) -> UInt32 { UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        self.init(pgno: be(0), commit: be(4), salt1: be(8), salt2: be(12), checksum1: be(16), checksum2: be(20))
    }
}

/// SQLite's WAL checksum (`walChecksumBytes` in wal.c): a cumulative, Fibonacci-weighted sum over 8-byte chunks read
/// as two 32-bit words in the byte order named by the WAL magic.
enum WALChecksum {
    private static let hostIsBigEndian = UInt32(1).bigEndian == 1

    /// Adds `count` bytes at `p` (a multiple of 8) to the running checksum `(s1, s2)`.
    @inline(__always)
    static func update(_ p: UnsafeRawPointer, count: Int, bigEndian: Bool, s1: inout UInt32, s2: inout UInt32) {
        precondition(count & 7 == 0, "WAL checksum input must be a multiple of 8 bytes")
        if bigEndian == hostIsBigEndian {
            native(p, count: count, s1: &s1, s2: &s2)
        } else {
            swapped(p, count: count, s1: &s1, s2: &s2)
        }
    }

    @inline(never)
    static func native(_ p: UnsafeRawPointer, count: Int, s1: inout UInt32, s2: inout UInt32) {
        var a = s1
        var b = s2
        var i = 0
        while i < count {
            a = a &+ p.loadUnaligned(fromByteOffset: i, as: UInt32.self) &+ b
            b = b &+ p.loadUnaligned(fromByteOffset: i &+ 4, as: UInt32.self) &+ a
            i &+= 8
        }
        s1 = a
        s2 = b
    }

    @inline(never)
    static func swapped(_ p: UnsafeRawPointer, count: Int, s1: inout UInt32, s2: inout UInt32) {
        var a = s1
        var b = s2
        var i = 0
        while i < count {
            a = a &+ p.loadUnaligned(fromByteOffset: i, as: UInt32.self).byteSwapped &+ b
            b = b &+ p.loadUnaligned(fromByteOffset: i &+ 4, as: UInt32.self).byteSwapped &+ a
            i &+= 8
        }
        s1 = a
        s2 = b
    }
}
