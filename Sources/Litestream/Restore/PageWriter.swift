#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@preconcurrency import Dispatch
import LTX
import Synchronization

/// Writes decoded pages to the restore's output file while the caller decodes the next ones.
///
/// Pages are decoded straight into one of two large aligned buffers; a full buffer goes to a writer queue and the
/// decoder moves on to the other, so decoding (LZ4, CRC) and the disk overlap. Long runs of consecutive pages —
/// all of a snapshot — are written with `O_DIRECT`, which skips the page-cache copy that otherwise dominates a
/// restore and leaves little for the final fsync; short runs go through the page cache.
final class PageWriter {
    private static let bufferBytes = 8 << 20
    private static let alignment = 4096
    /// Runs shorter than this go through the page cache (an O_DIRECT write per scattered page would be slow).
    private static let directMinimumBytes = 256 << 10

    private let path: String
    private let fd: Int32
    private let directFD: Int32
    private let pageSize: Int
    private let buffers: [UnsafeMutableRawPointer]
    private var current = 0
    private var used = 0  // pages in the current buffer
    private var runs: [(pgno: UInt32, slot: Int, count: Int)] = []
    private let queue = DispatchQueue(label: "litestream.restore-writer")
    // Counts free buffers besides the one being filled. Created at 0 (libdispatch traps if a semaphore is freed
    // below its initial value), then signalled once.
    private let free = DispatchSemaphore(value: 0)
    private let failure = FirstFailure()

    init(path: String, fd: Int32, pageSize: Int) throws {
        self.path = path
        self.fd = fd
        self.pageSize = pageSize
        #if os(Linux)
        directFD = pageSize % Self.alignment == 0 ? open(path, O_WRONLY | linuxODirect | O_CLOEXEC) : -1
        #else
        directFD = -1
        #endif
        var bufs: [UnsafeMutableRawPointer] = []
        for _ in 0..<2 {
            var p: UnsafeMutableRawPointer?
            guard posix_memalign(&p, Self.alignment, Self.bufferBytes) == 0, let p else {
                throw SystemError(operation: "allocate", path: path, errno: ENOMEM)
            }
            bufs.append(p)
        }
        buffers = bufs
        free.signal()  // buffer 1 is free; buffer 0 is being filled
    }

    deinit {
        queue.sync {}
        for b in buffers { Foundation_free(b) }
        if directFD >= 0 { close(directFD) }
    }

    private var capacityPages: Int { Self.bufferBytes / pageSize }

    func decodeAll<I: LTXInput>(_ dec: inout LTXDecoder<I>) throws {
        while true {
            if used == capacityPages { try submit() }
            let slot = UnsafeMutableRawBufferPointer(start: buffers[current] + used * pageSize, count: pageSize)
            guard let pgno = try dec.nextPage(into: slot) else { return }
            if let last = runs.last, last.pgno + UInt32(last.count) == pgno, last.slot + last.count == used {
                runs[runs.count - 1].count += 1
            } else {
                runs.append((pgno, used, 1))
            }
            used += 1
        }
    }

    /// Writes what is buffered and waits for every write to finish.
    func finish() throws {
        if used > 0 { try submit() }
        queue.sync {}
        if let e = failure.error { throw e }
    }

    private func submit() throws {
        if let e = failure.error { throw e }
        let buffer = Int(bitPattern: buffers[current])  // an address: the buffer stays ours until `free` is signalled
        let runs = self.runs
        let (fd, directFD, pageSize, path) = (self.fd, self.directFD, self.pageSize, self.path)
        let free = self.free
        let failure = self.failure
        queue.async {
            defer { free.signal() }
            do {
                for run in runs {
                    let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: buffer)! + run.slot * pageSize, count: run.count * pageSize)
                    let offset = Int64(run.pgno - 1) * Int64(pageSize)
                    let direct = directFD >= 0 && bytes.count >= Self.directMinimumBytes
                        && Int(bitPattern: bytes.baseAddress) % Self.alignment == 0 && offset % Int64(Self.alignment) == 0
                    try POSIX.pwriteAll(direct ? directFD : fd, bytes, at: offset, path: path)
                }
            } catch let e as SystemError {
                failure.record(e)
            } catch {}
        }
        self.runs.removeAll(keepingCapacity: true)
        used = 0
        current ^= 1
        free.wait()  // until the other buffer's write is done
    }
}

@inline(__always) private func Foundation_free(_ p: UnsafeMutableRawPointer) {
    #if canImport(Glibc)
    Glibc.free(p)
    #else
    Darwin.free(p)
    #endif
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
