/// Result of scanning a WAL for committed frames.
struct WALScan: Sendable {
    var header: WALHeader
    /// The offset the scan started at.
    var startOffset: Int64
    /// End of the last committed frame found (== `startOffset` if none).
    var endOffset: Int64
    /// Database size in pages from the last commit frame (0 if none).
    var commit: UInt32
    /// For each page, the offset of the start of the latest committed frame holding it. Pages above the final
    /// `commit` (the database shrank) are dropped, so no key exceeds `commit`.
    var pages: [UInt32: Int64]
    /// Number of committed frames scanned.
    var frameCount: Int
    /// True when a valid commit frame lies beyond `limit`: a writer is between writing its frames and publishing
    /// them in the WAL index (or crashed there). Those frames are not committed yet and were not included.
    var stoppedAtLimit = false
}

/// Reads a SQLite `-wal` file with `pread(2)`.
///
/// The file is opened lazily (`O_RDONLY | O_CLOEXEC`). SQLite takes no POSIX locks on the `-wal` file, so opening and
/// closing it never disturbs SQLite's locking. `fileSize()` and `readHeader()` check that the open descriptor still
/// refers to the file at `path` (it may have been deleted or replaced) and reopen it if not. `scan`,
/// `readFrameHeader(at:)` and `readPage(frameOffset:into:)` use the descriptor as it is, so frames and pages are
/// read from the same file as the header that preceded them.
///
/// Not thread-safe: one owner at a time.
final class WALReader {
    /// Path of the `-wal` file.
    let path: String
    private var fd: Int32 = -1

    /// Scan buffers hold a whole number of frames and are about this large.
    static let scanChunkBytes = 4 << 20
    /// How many frames past the committed end a scan reads first (it reads on while the frames stay valid).
    static let peekFrames: Int64 = 16
    /// Scan buffers up to this size are kept for the next scan. A replicator scans ten times a second: a buffer
    /// allocated per scan costs page faults every time when malloc maps it, and when malloc takes it from its heap
    /// instead, the heap keeps the largest one the replicator ever needed.
    static let keptScanBufferBytes = 1 << 20
    private var keptScanBuffer: UnsafeMutableRawBufferPointer?

    init(path: String) {
        self.path = path
    }

    deinit {
        close()
        keptScanBuffer?.deallocate()
    }

    /// Closes the file descriptor, if open. The next read reopens the file.
    func close() {
        if fd >= 0 {
            _ = systemClose(fd)
            fd = -1
        }
    }

    /// Frees the buffer kept for the next scan (for a database that goes idle: up to `keptScanBufferBytes` each).
    func releaseBuffers() {
        keptScanBuffer?.deallocate()
        keptScanBuffer = nil
    }

    /// The size of the `-wal` file in bytes; 0 if it does not exist.
    func fileSize() throws -> Int64 {
        guard let st = try statPath() else {
            close()
            return 0
        }
        if fd >= 0, try !descriptorMatches(st) {
            close()
        }
        return Int64(st.st_size)
    }

    /// The WAL header; nil if the file is missing, shorter than 32 bytes, or the header is invalid.
    ///
    /// With `sameFile`, reads the file already open (if any) without checking that it is still the one at `path`:
    /// enough to tell whether the generation that a scan just read is still current in that file, at a third of
    /// the system calls.
    func readHeader(sameFile: Bool = false) throws -> WALHeader? {
        guard try openIfNeeded(validate: !sameFile) else { return nil }
        return try withUnsafeTemporaryAllocation(byteCount: WALHeader.size, alignment: 8) { buf in
            let n = try readFully(into: UnsafeMutableRawBufferPointer(buf), at: 0)
            guard n == WALHeader.size else { return nil }
            return WALHeader(bytes: UnsafeRawBufferPointer(buf))
        }
    }

    /// The frame header starting at `offset`; nil if the file is missing or fewer than 24 bytes exist there.
    func readFrameHeader(at offset: Int64) throws -> WALFrameHeader? {
        guard offset >= 0, try openIfNeeded(validate: false) else { return nil }
        return try withUnsafeTemporaryAllocation(byteCount: WALFrameHeader.size, alignment: 8) { buf in
            let n = try readFully(into: UnsafeMutableRawBufferPointer(buf), at: offset)
            guard n == WALFrameHeader.size else { return nil }
            return WALFrameHeader(decoding: UnsafeRawPointer(buf.baseAddress!))
        }
    }

    /// A buffer of exactly `byteCount` bytes for one scan, from the kept one when it is small enough; hand it back
    /// with `releaseScanBuffer`.
    private func scanBuffer(byteCount: Int) -> UnsafeMutableRawBufferPointer {
        guard byteCount <= Self.keptScanBufferBytes else {
            return .allocate(byteCount: byteCount, alignment: 16)
        }
        if let kept = keptScanBuffer, kept.count >= byteCount {
            return UnsafeMutableRawBufferPointer(rebasing: kept[..<byteCount])
        }
        keptScanBuffer?.deallocate()
        // Powers of two: a writer whose transactions slowly grow reallocates a few times, not at every scan.
        var size = 64 << 10
        while size < byteCount { size <<= 1 }
        let kept = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        keptScanBuffer = kept
        return UnsafeMutableRawBufferPointer(rebasing: kept[..<byteCount])
    }

    private func releaseScanBuffer(_ buffer: UnsafeMutableRawBufferPointer) {
        if buffer.baseAddress != keptScanBuffer?.baseAddress { buffer.deallocate() }
    }

    /// Scans committed frames starting at `offset` (32, or the end of a previously scanned commit frame).
    ///
    /// When `offset > 32` the checksum chain is seeded from the checksum stored in the frame that ends at `offset`;
    /// that frame must exist and carry the header's salts, otherwise the result is nil ("continuity broken"). The
    /// result is also nil when the file is missing, or `offset` is below 32 or not on a frame boundary.
    ///
    /// The scan stops at the first frame whose salts differ from the header's, whose page number is 0, or whose
    /// cumulative checksum does not match (that frame and everything after it are not part of this WAL generation);
    /// at EOF (a partial frame counts as EOF); or, if `maxBytes` is given, at the first commit boundary at or beyond
    /// `offset + maxBytes` (a `maxBytes <= 0` therefore returns exactly one transaction). Frames after the last commit
    /// frame (an uncommitted tail) are not included.
    ///
    /// `limit` is an offset no included frame may extend past: the end of the frames SQLite's WAL index declares
    /// committed (`mxFrame`). Frames past it can be valid on disk yet not committed — a writer that crashed after
    /// writing its commit frame but before publishing it — and the next writer overwrites them.
    func scan(from offset: Int64, header: WALHeader, maxBytes: Int64? = nil, limit endLimit: Int64? = nil) throws -> WALScan? {
        let frameSize = header.frameSize
        let pageSize = Int(header.pageSize)
        guard pageSize >= 512, pageSize <= 65536, pageSize & (pageSize - 1) == 0 else { return nil }
        guard offset >= Int64(WALHeader.size), (offset - Int64(WALHeader.size)) % frameSize == 0 else { return nil }
        // The file `header` was just read from: its frames are the ones that header describes.
        guard try openIfNeeded(validate: false) else { return nil }

        // Seed the checksum chain.
        var s1 = header.checksum1
        var s2 = header.checksum2
        if offset > Int64(WALHeader.size) {
            guard let prev = try readFrameHeader(at: offset - frameSize),
                prev.salt1 == header.salt1, prev.salt2 == header.salt2
            else { return nil }
            // The seeding frame must be complete, otherwise `offset` lies beyond EOF.
            guard try fileSizeOfDescriptor() >= offset else { return nil }
            s1 = prev.checksum1
            s2 = prev.checksum2
        }

        var result = WALScan(
            header: header, startOffset: offset, endOffset: offset, commit: 0, pages: [:], frameCount: 0)

        // Size the buffer to what is there now (the scan still reads on if the file grows), capped at ~4 MiB. A
        // restarted WAL keeps its old size, and frames past `endLimit` are stale or not yet published: read only
        // a little past it, enough to see a commit frame that a writer has not published yet (`stoppedAtLimit`).
        // Reading to the end of the file every sync was a visible share of the steady-state CPU (stale frames).
        var end = try fileSizeOfDescriptor()
        if let endLimit { end = min(end, max(endLimit, offset) + WALReader.peekFrames * frameSize) }
        let available = max(end - offset, 0)
        let framesPerChunkMax = max(1, WALReader.scanChunkBytes / Int(frameSize))
        let framesAvailable = Int(min((available + frameSize - 1) / frameSize, Int64(framesPerChunkMax)))
        if framesAvailable == 0 { return result }
        let bufferSize = framesAvailable * Int(frameSize)

        let limit: Int64? = maxBytes.map { offset + max($0, 0) }
        let bigEndian = header.bigEndianChecksums
        let salt1 = header.salt1
        let salt2 = header.salt2

        // Frames of the transaction in progress (not committed yet), in order.
        var pendingPgnos: [UInt32] = []
        var pendingOffsets: [Int64] = []
        // The largest page number in `result.pages`.
        var maxPgnoBound: UInt32 = 0

        let buffer = scanBuffer(byteCount: bufferSize)
        defer { releaseScanBuffer(buffer) }
        let base = UnsafeRawPointer(buffer.baseAddress!)

        var chunkOffset = offset
        scanning: while true {
            let n = try readFully(into: buffer, at: chunkOffset)
            let frames = n / Int(frameSize)
            var i = 0
            while i < frames {
                let frameStart = i * Int(frameSize)
                let frameOffset = chunkOffset + Int64(frameStart)
                let p = base + frameStart
                let fh = WALFrameHeader(decoding: p)
                guard fh.salt1 == salt1, fh.salt2 == salt2, fh.pgno != 0 else { break scanning }
                WALChecksum.update(p, count: 8, bigEndian: bigEndian, s1: &s1, s2: &s2)
                WALChecksum.update(p + WALFrameHeader.size, count: pageSize, bigEndian: bigEndian, s1: &s1, s2: &s2)
                guard s1 == fh.checksum1, s2 == fh.checksum2 else { break scanning }

                pendingPgnos.append(fh.pgno)
                pendingOffsets.append(frameOffset)
                if fh.commit != 0 {
                    // A transaction past the limit is not committed: none of its pages may be taken.
                    if let endLimit, frameOffset + frameSize > endLimit {
                        result.stoppedAtLimit = true
                        break scanning
                    }
                    for k in pendingPgnos.indices {
                        result.pages[pendingPgnos[k]] = pendingOffsets[k]
                        if pendingPgnos[k] > maxPgnoBound { maxPgnoBound = pendingPgnos[k] }
                    }
                    result.frameCount += pendingPgnos.count
                    pendingPgnos.removeAll(keepingCapacity: true)
                    pendingOffsets.removeAll(keepingCapacity: true)
                    result.commit = fh.commit
                    result.endOffset = frameOffset + frameSize
                    if let limit, result.endOffset >= limit { break scanning }
                }
                i += 1
            }
            // A short read means EOF (a trailing partial frame is ignored).
            if n < buffer.count { break }
            chunkOffset += Int64(frames) * frameSize
        }
        // Pages beyond the final database size (it shrank, e.g. VACUUM) are gone. Like SQLite (whose lookups and
        // checkpoints take the newest frame of a page regardless of an intermediate shrink, and skip pages beyond
        // the current size), only the final commit size counts.
        if result.commit < maxPgnoBound {
            result.pages = result.pages.filter { $0.key <= result.commit }
        }
        return result
    }

    /// Reads the page stored in the frame starting at `frameOffset`: `buffer.count` bytes (normally the page size)
    /// at `frameOffset + 24`. Throws `WALError` if the file is missing or the bytes are not all there.
    func readPage(frameOffset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard try openIfNeeded(validate: false) else {
            throw WALError(path: path, message: "cannot read page at frame offset \(frameOffset): file does not exist")
        }
        let n = try readFully(into: buffer, at: frameOffset + Int64(WALFrameHeader.size))
        guard n == buffer.count else {
            throw WALError(
                path: path,
                message: "short read: \(n) of \(buffer.count) page bytes at frame offset \(frameOffset)")
        }
    }

    // MARK: - Low-level I/O

    /// Opens the file if it is not open; with `validate`, first drops a descriptor that no longer refers to the file
    /// at `path`. Returns false if the file does not exist.
    private func openIfNeeded(validate: Bool) throws -> Bool {
        if fd >= 0 {
            guard validate else { return true }
            guard let st = try statPath() else {
                close()
                return false
            }
            if try descriptorMatches(st) { return true }
            close()
        }
        while true {
            let f = systemOpen(path, O_RDONLY | O_CLOEXEC)
            if f >= 0 {
                fd = f
                return true
            }
            let e = errno
            if e == EINTR { continue }
            if e == ENOENT { return false }
            throw WALError(path: path, message: "open", errno: e)
        }
    }

    private func statPath() throws -> stat? {
        var st = stat()
        if stat(path, &st) == 0 { return st }
        let e = errno
        if e == ENOENT { return nil }
        throw WALError(path: path, message: "stat", errno: e)
    }

    private func fstatDescriptor() throws -> stat {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw WALError(path: path, message: "fstat", errno: errno) }
        return st
    }

    private func descriptorMatches(_ pathStat: stat) throws -> Bool {
        let st = try fstatDescriptor()
        return st.st_dev == pathStat.st_dev && st.st_ino == pathStat.st_ino
    }

    private func fileSizeOfDescriptor() throws -> Int64 {
        Int64(try fstatDescriptor().st_size)
    }

    /// Reads up to `buffer.count` bytes at `offset`, retrying short reads; returns fewer only at EOF.
    private func readFully(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let r = pread(fd, base + done, buffer.count - done, off_t(offset + Int64(done)))
            if r > 0 {
                done += r
            } else if r == 0 {
                break
            } else {
                let e = errno
                if e == EINTR { continue }
                throw WALError(
                    path: path, message: "read \(buffer.count - done) bytes at offset \(offset + Int64(done))", errno: e)
            }
        }
        return done
    }
}

@inline(__always)
private func systemOpen(_ path: String, _ flags: Int32) -> Int32 {
    open(path, flags)
}

@inline(__always)
private func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(fd)
    #else
    Darwin.close(fd)
    #endif
}
