@preconcurrency import Dispatch
import LTX
import Synchronization
import SystemPackage

/// Writes decoded pages to the restore's output file while the caller decodes the next ones, and hashes them.
///
/// Pages are decoded straight into one of two large aligned buffers; a full buffer goes to a writer queue and the
/// decoder moves on to the other, so decoding (LZ4) and the disk overlap. Long runs of consecutive pages — all of a
/// snapshot — are written with `O_DIRECT`, which skips the page-cache copy that otherwise dominates a restore and
/// leaves little for the final fsync; short runs go through the page cache.
///
/// The decoder defers page checksums (`LTXDecoder(deferPageChecksums:)`): a second queue takes the CRC-64 of each
/// page of a submitted buffer while the writer queue writes it, so hashing — the bulk of a restore's CPU time —
/// runs beside both decoding and the disk. `decodeAll` returns the file's page checksums in page order, for
/// `LTXDecoder.finish(pageChecksums:)`. Pages of a file still in the buffer being filled are hashed on the calling
/// thread (a small file's few pages need not wait for a buffer to fill).
final class PageWriter {
    private static let bufferBytes = 8 << 20
    private static let alignment = 4096
    /// Runs shorter than this go through the page cache (an O_DIRECT write per scattered page would be slow).
    private static let directMinimumBytes = 256 << 10

    private let path: String
    /// The output, and on Linux a second descriptor of it with `O_DIRECT`. The writer queue's jobs use their raw
    /// values: `deinit` waits for every job before these close.
    private let file: OpenFile
    private let direct: OpenFile?
    private let pageSize: Int
    private let buffers: [UnsafeMutableRawPointer]
    /// Per buffer, the CRC-64 of the page in each slot, written by the checksum queue.
    private let checksums: [UnsafeMutablePointer<UInt64>]
    private var current = 0
    private var used = 0  // pages in the current buffer
    private var runs: [(pgno: UInt32, slot: Int, count: Int)] = []
    private let queue = DispatchQueue(label: "litestream.restore-writer")
    private let checksumQueue = DispatchQueue(label: "litestream.restore-checksum")
    /// Per buffer, its write and checksum jobs: the buffer is free again once its group is empty.
    private let jobs = [DispatchGroup(), DispatchGroup()]
    private let failure = FirstFailure()

    // The file being decoded.
    /// Checksums of its pages collected so far, in page order.
    private var fileChecksums: [UInt64] = []
    /// Its first slot in the current buffer (slots before it hold earlier files' pages, already hashed).
    private var fileStartSlot = 0
    /// Its pages in submitted buffers whose checksums are not yet in `fileChecksums`, oldest first.
    private var pending: [(buffer: Int, slot: Int, count: Int)] = []

    /// Creates (or truncates) the output file at `path`.
    init(path: String, pageSize: Int) throws {
        self.path = path
        file = try OpenFile(path, .writeOnly, options: [.create, .truncate])
        self.pageSize = pageSize
        #if os(Linux)
        direct = pageSize % Self.alignment == 0 ? try? OpenFile(path, .writeOnly, options: .init(rawValue: linuxODirect)) : nil
        #else
        direct = nil
        #endif
        var bufs: [UnsafeMutableRawPointer] = []
        for _ in 0..<2 {
            var p: UnsafeMutableRawPointer?
            guard posix_memalign(&p, Self.alignment, Self.bufferBytes) == 0, let p else {
                for b in bufs { free(b) }
                throw SystemError(operation: "allocate", path: path, errno: .noMemory)
            }
            bufs.append(p)
        }
        buffers = bufs
        let capacity = Self.bufferBytes / pageSize
        checksums = (0..<2).map { _ in .allocate(capacity: capacity) }
    }

    deinit {
        for group in jobs { group.wait() }
        for b in buffers { free(b) }
        for c in checksums { c.deallocate() }
    }

    private var directFD: Int32? {
        switch direct {
        case .some(let d): d.descriptor.rawValue
        case .none: nil
        }
    }

    private var capacityPages: Int { Self.bufferBytes / pageSize }

    /// Decodes every page of `dec` (a decoder that defers page checksums) into the buffers and returns the CRC-64 of
    /// each page, in page order. The pages may not be written yet; `finish` waits for that.
    func decodeAll<I: LTXInput>(_ dec: inout LTXDecoder<I>) throws -> [UInt64] {
        precondition(dec.defersPageChecksums, "PageWriter hashes the pages: the decoder must defer page checksums")
        fileChecksums = []
        fileStartSlot = used
        pending = []
        while true {
            if used == capacityPages { try submit() }
            let slot = UnsafeMutableRawBufferPointer(start: buffers[current] + used * pageSize, count: pageSize)
            guard let pgno = try dec.nextPage(into: slot) else { break }
            if let last = runs.last, last.pgno + UInt32(last.count) == pgno, last.slot + last.count == used {
                runs[runs.count - 1].count += 1
            } else {
                runs.append((pgno, used, 1))
            }
            used += 1
        }
        if !pending.isEmpty {
            checksumQueue.sync {}  // every submitted buffer's checksums are done (their writes need not be)
            while !pending.isEmpty { collect(pending.removeFirst()) }
        }
        let base = buffers[current]
        for slot in fileStartSlot..<used {
            fileChecksums.append(Self.checksum(base + slot * pageSize, pageSize))
        }
        fileStartSlot = used
        defer { fileChecksums = [] }
        return fileChecksums
    }

    /// Writes what is buffered, waits for every write to finish, sets the file's size and fsyncs it.
    func finish(size: Int64) throws {
        if used > 0 { try submit() }
        for group in jobs { group.wait() }
        if let e = failure.error { throw e }
        try file.resize(to: size)
        try file.sync()
    }

    private func submit() throws {
        if let e = failure.error { throw e }
        let b = current
        let buffer = Int(bitPattern: buffers[b])  // an address: the buffer stays ours until its jobs are done
        let runs = self.runs
        let (fd, directFD, pageSize, path) = (file.descriptor.rawValue, directFD, self.pageSize, self.path)
        let failure = self.failure
        queue.async(group: jobs[b]) {
            do {
                for run in runs {
                    let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: buffer)! + run.slot * pageSize, count: run.count * pageSize)
                    let offset = Int64(run.pgno - 1) * Int64(pageSize)
                    let direct = bytes.count >= Self.directMinimumBytes
                        && Int(bitPattern: bytes.baseAddress) % Self.alignment == 0 && offset % Int64(Self.alignment) == 0
                    let target = FileDescriptor(rawValue: direct ? directFD ?? fd : fd)
                    _ = try SystemError.wrap("write", path) { try target.writeAll(toAbsoluteOffset: offset, bytes) }
                }
            } catch let e as SystemError {
                failure.record(e)
            } catch {}
        }
        // Only the current file's pages: earlier files' pages in this buffer were hashed when they ended.
        if used > fileStartSlot {
            let (from, to) = (fileStartSlot, used)
            let sums = Int(bitPattern: checksums[b])
            checksumQueue.async(group: jobs[b]) {
                let base = UnsafeRawPointer(bitPattern: buffer)!
                let out = UnsafeMutablePointer<UInt64>(bitPattern: sums)!
                for slot in from..<to { out[slot] = Self.checksum(base + slot * pageSize, pageSize) }
            }
            pending.append((b, from, to - from))
        }
        self.runs.removeAll(keepingCapacity: true)
        used = 0
        fileStartSlot = 0
        current ^= 1
        jobs[current].wait()  // until the other buffer is written and hashed
        // Its checksums are about to be overwritten: keep the current file's.
        if let p = pending.first, p.buffer == current { collect(pending.removeFirst()) }
    }

    private func collect(_ p: (buffer: Int, slot: Int, count: Int)) {
        fileChecksums.append(contentsOf: UnsafeBufferPointer(start: checksums[p.buffer] + p.slot, count: p.count))
    }

    private static func checksum(_ page: UnsafeRawPointer, _ count: Int) -> UInt64 {
        var crc = CRC64()
        crc.update(UnsafeRawBufferPointer(start: page, count: count))
        return crc.value
    }
}

#if os(Linux)
/// Glibc does not export O_DIRECT to Swift (it needs _GNU_SOURCE); the value is per architecture.
#if arch(arm64)
private let linuxODirect: Int32 = 0o200000
#else
private let linuxODirect: Int32 = 0o40000
#endif
#endif

/// The first error of the writer queue, read by the decoding side.
private final class FirstFailure: Sendable {
    private let value = Mutex<SystemError?>(nil)
    var error: SystemError? { value.withLock { $0 } }
    func record(_ e: SystemError) { value.withLock { if $0 == nil { $0 = e } } }
}
