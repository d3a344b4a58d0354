import LitestreamClient
import LitestreamCore
import SystemPackage
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization


// Uploads with bounded memory.
//
// A body up to `partSize` goes in one PutObject; a larger one in a multipart upload with up to `concurrency`
// parts in flight, aborted on any failure or cancellation. A local file is read part by part with pread. A body
// produced by a synchronous writer (an LTX encoder writing a snapshot of any size) is produced on a thread of its
// own, which hands each filled part to the uploader and waits while `concurrency` parts are in flight: at most
// `concurrency + 1` parts are in memory at once.

extension S3Signer {
    /// Lower-case hex SHA-256 of a buffer's readable bytes.
    static func payloadHash(_ buffer: ByteBuffer) -> String {
        buffer.withUnsafeReadableBytes { bytes in
            var hasher = SHA256()
            hasher.update(bufferPointer: bytes)
            return hex(hasher.finalize())
        }
    }
}

/// Test hook: the bytes of upload bodies held in memory now, and the most at any moment.
final class S3BufferGauge: Sendable {
    private let state = Mutex<(current: Int, peak: Int)>((0, 0))

    func add(_ n: Int) {
        state.withLock {
            $0.current += n
            $0.peak = max($0.peak, $0.current)
        }
    }

    func remove(_ n: Int) { state.withLock { $0.current -= n } }

    var current: Int { state.withLock { $0.current } }
    var peak: Int { state.withLock { $0.peak } }
}

extension S3Client {
    /// S3's limit on the parts of one upload.
    static let maximumPartCount = 10_000

    /// Uploads the bytes of the file open at `fd` (`size` bytes): one PutObject up to `partSize`, else a multipart
    /// upload reading each part with pread when its turn comes, so at most `concurrency` parts are in memory.
    /// `exclusive`: only if no object has the key (see ``putObject(key:buffer:metadata:exclusive:)``).
    func upload(file: borrowing OpenFile, size: Int64, key: String, metadata: [String: String], exclusive: Bool = false) async throws {
        let (fd, path) = (file.descriptor.rawValue, file.path)  // open for the whole call: `file` is borrowed
        if size <= Int64(partSize) {
            let body = try Self.readPart(fd: fd, path: path, offset: 0, count: Int(size))
            bufferGauge?.add(body.readableBytes)
            defer { bufferGauge?.remove(body.readableBytes) }
            try await putObject(key: key, buffer: body, metadata: metadata, exclusive: exclusive)
            return
        }
        // Larger parts when the file would need more than S3's 10,000 (as the AWS SDK's uploader does).
        let partSize = Int64(max(self.partSize, Int((size + Int64(Self.maximumPartCount) - 1) / Int64(Self.maximumPartCount))))
        let count = Int((size + partSize - 1) / partSize)
        try await multipartUpload(key: key, metadata: metadata, exclusive: exclusive) { uploadID in
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var etags: [(number: Int, etag: String)] = []
                var next = 1
                var inFlight = 0
                while next <= count || inFlight > 0 {
                    if next <= count && inFlight < concurrency {
                        let number = next
                        let offset = Int64(number - 1) * partSize
                        group.addTask {
                            let body = try Self.readPart(
                                fd: fd, path: path, offset: offset, count: Int(min(partSize, size - offset)))
                            bufferGauge?.add(body.readableBytes)
                            defer { bufferGauge?.remove(body.readableBytes) }
                            return (number, try await uploadPart(key: key, uploadID: uploadID, number: number, body: body))
                        }
                        next += 1
                        inFlight += 1
                    } else if let done = try await group.next() {
                        etags.append(done)
                        inFlight -= 1
                    }
                }
                return etags
            }
        }
    }

    /// Uploads the bytes `write` gives its sink, with at most `concurrency + 1` parts in memory (see the top of
    /// this file). `write` runs on a thread of its own while this task waits for it, never at the same time as
    /// the caller's code. Returns the number of bytes uploaded.
    func upload(
        key: String, metadata: [String: String], exclusive: Bool = false,
        write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) async throws -> Int64 {
        try await withoutActuallyEscaping(write) { write in
            let handoff = PartHandoff()
            let producer = PartProducer(write: write, handoff: handoff, partSize: partSize, gauge: bufferGauge)
            async let produced: Void = producer.run()
            let result: Result<Int64, any Error>
            do {
                result = .success(try await uploadParts(from: handoff, key: key, metadata: metadata, exclusive: exclusive))
            } catch {
                handoff.close()  // wakes the producer, whose next write then fails
                result = .failure(error)
            }
            // The producer has dropped `write` when this returns, as withoutActuallyEscaping requires.
            await produced
            return try result.get()
        }
    }

    /// The uploading side of ``upload(key:metadata:write:)``.
    private func uploadParts(
        from handoff: PartHandoff, key: String, metadata: [String: String], exclusive: Bool
    ) async throws -> Int64 {
        let first = try await handoff.next()
        if first.isLast {
            defer { bufferGauge?.remove(first.buffer.readableBytes) }
            try await putObject(key: key, buffer: first.buffer, metadata: metadata, exclusive: exclusive)
            return Int64(first.buffer.readableBytes)
        }
        var total: Int64 = 0
        try await multipartUpload(key: key, metadata: metadata, exclusive: exclusive) { uploadID in
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var etags: [(number: Int, etag: String)] = []
                var part = first
                var number = 0
                var inFlight = 0
                while true {
                    number += 1
                    guard number <= Self.maximumPartCount else {
                        bufferGauge?.remove(part.buffer.readableBytes)
                        throw S3Error(
                            code: "TooManyParts",
                            message: "the body needs more than \(Self.maximumPartCount) parts of \(partSize) bytes; "
                                + "raise part-size",
                            statusCode: nil, operation: "UploadPart", bucket: bucket, key: key,
                            endpoint: endpointDescription)
                    }
                    total += Int64(part.buffer.readableBytes)
                    let (n, body) = (number, part.buffer)
                    group.addTask {
                        defer { bufferGauge?.remove(body.readableBytes) }
                        return (n, try await uploadPart(key: key, uploadID: uploadID, number: n, body: body))
                    }
                    inFlight += 1
                    if part.isLast { break }
                    // Take the next part only when a slot is free: until then the producer waits with it.
                    if inFlight == concurrency, let done = try await group.next() {
                        etags.append(done)
                        inFlight -= 1
                    }
                    part = try await handoff.next()
                }
                while let done = try await group.next() { etags.append(done) }
                return etags
            }
        }
        return total
    }

    /// CreateMultipartUpload, `body` (which uploads the parts and returns their ETags), CompleteMultipartUpload;
    /// AbortMultipartUpload when anything fails or the task is cancelled. `exclusive` conditions the completion on
    /// no object having the key.
    func multipartUpload(
        key: String, metadata: [String: String], exclusive: Bool = false,
        _ body: (_ uploadID: String) async throws -> [(number: Int, etag: String)]
    ) async throws {
        let initiated = try await send(
            "CreateMultipartUpload", method: "POST", key: key, query: [("uploads", "")],
            headers: uploadHeaders(metadata: metadata))
        let uploadID = try S3XML.parseInitiateMultipartUpload(initiated.body)
        do {
            let parts = try await body(uploadID)
            try Task.checkCancellation()
            _ = try await send(
                "CompleteMultipartUpload", method: "POST", key: key, query: [("uploadId", uploadID)],
                headers: [("content-type", "application/xml")] + sseCustomerHeaders + (exclusive ? [Self.ifNoneMatch] : []),
                body: S3XML.completeMultipartUploadBody(parts: parts), errorIn200: true)
        } catch {
            // Not cancelled with this task: an abandoned upload keeps its parts (and costs) until aborted.
            await sendIgnoringCancellation(method: "DELETE", key: key, query: [("uploadId", uploadID)])
            throw error
        }
    }

    /// UploadPart; returns the part's ETag.
    func uploadPart(key: String, uploadID: String, number: Int, body: ByteBuffer) async throws -> String {
        try partUploadHook?(number)
        let r = try await send(
            "UploadPart", method: "PUT", key: key, query: [("partNumber", "\(number)"), ("uploadId", uploadID)],
            headers: sseCustomerHeaders, buffer: body)
        guard let etag = r.headers.first(name: "etag") else {
            throw S3Error(
                code: "MalformedResponse", message: "UploadPart response without an ETag", statusCode: r.status,
                operation: "UploadPart", bucket: bucket, key: key, endpoint: endpointDescription)
        }
        return etag
    }

    /// `count` bytes at `offset` of a file.
    static func readPart(fd: Int32, path: String, offset: Int64, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { b -> Int in
            var done = 0
            while done < count {
                let r = pread(fd, b.baseAddress! + done, count - done, off_t(offset + Int64(done)))
                if r < 0 {
                    if errno == EINTR { continue }
                    throw SystemError.last("pread", path)
                }
                if r == 0 { break }
                done += r
            }
            return done
        }
        guard n == count else {
            throw SystemError(operation: "pread (file shorter than expected)", path: path, errno: .ioError)
        }
        return buffer
    }
}

/// One part of a produced body.
struct UploadPartBuffer: Sendable {
    var buffer: ByteBuffer
    /// The body's last part (possibly short, or empty for an empty body).
    var isLast: Bool
}

/// Hands parts from a producing thread to the uploading task, one at a time: ``offer(_:)`` blocks the producer
/// until the uploader has taken the part, so no part waits in between.
final class PartHandoff: @unchecked Sendable {
    /// Thrown to the producer when the uploader has given up (failed or cancelled).
    struct Closed: Error {}

    // All state is guarded by `condition`.
    private let condition = NSCondition()
    private var offered: UploadPartBuffer?
    private var failure: (any Error)?
    private var closed = false
    private var waiter: CheckedContinuation<UploadPartBuffer, any Error>?

    /// Producer: gives `part` to the uploader, blocking until it is taken; throws ``Closed`` if the uploader gave up.
    func offer(_ part: UploadPartBuffer) throws {
        EngineExecutor.assertMayBlock("PartHandoff.offer")
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { throw Closed() }
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: part)
            return
        }
        offered = part
        while offered != nil && !closed { condition.wait() }
        if offered != nil {
            offered = nil
            throw Closed()
        }
    }

    /// Producer: the body cannot be completed; the uploader's ``next()`` throws `error`.
    func fail(_ error: any Error) {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return }
        if let waiter {
            self.waiter = nil
            waiter.resume(throwing: error)
        } else {
            failure = error
        }
    }

    /// Uploader: the next part (the producer's error if it failed). Cancelling the task closes the handoff.
    func next() async throws -> UploadPartBuffer {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<UploadPartBuffer, any Error>) in
                condition.lock()
                defer { condition.unlock() }
                if closed {
                    c.resume(throwing: CancellationError())
                } else if let part = offered {
                    offered = nil
                    condition.broadcast()
                    c.resume(returning: part)
                } else if let failure {
                    c.resume(throwing: failure)
                } else {
                    waiter = c
                }
            }
        } onCancel: {
            close()
        }
    }

    /// Uploader: gives up; a blocked or later ``offer(_:)`` throws ``Closed``.
    func close() {
        condition.lock()
        closed = true
        let waiter = self.waiter
        self.waiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume(throwing: CancellationError())
    }
}

/// Runs a body writer on a thread of its own, cutting its output into parts for a ``PartHandoff``.
///
/// A dedicated thread, not a task: the writer is synchronous and blocks while the uploader is busy, which must not
/// hold one of the few threads of Swift's cooperative pool.
final class PartProducer: @unchecked Sendable {
    typealias Writer = (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

    private let lock = NSLock()
    private var write: Writer?
    private let handoff: PartHandoff
    private let partSize: Int
    private let gauge: S3BufferGauge?

    init(write: @escaping Writer, handoff: PartHandoff, partSize: Int, gauge: S3BufferGauge?) {
        self.write = write
        self.handoff = handoff
        self.partSize = partSize
        self.gauge = gauge
    }

    /// Runs the writer to its end on a new thread.
    func run() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                produce()  // returns only after releasing the writer
                c.resume()
            }
            thread.name = "litestream-s3-upload"
            thread.stackSize = 8 << 20  // as a main thread: writers may recurse (LTX encoding, SQLite)
            thread.start()
        }
    }

    private func takeWriter() -> Writer? {
        lock.withLock {
            defer { write = nil }
            return write
        }
    }

    private func produce() {
        guard let write = takeWriter() else { return }
        let partSize = self.partSize
        var buffer = ByteBufferAllocator().buffer(capacity: partSize)
        do {
            try write { bytes in
                var rest = bytes
                while !rest.isEmpty {
                    if buffer.readableBytes == partSize {
                        // Handed over only when more bytes follow, so that the last part is known as last.
                        try handoff.offer(UploadPartBuffer(buffer: buffer, isLast: false))
                        buffer = ByteBufferAllocator().buffer(capacity: partSize)
                    }
                    let n = min(rest.count, partSize - buffer.readableBytes)
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: rest.prefix(n)))
                    gauge?.add(n)
                    rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(n))
                }
            }
            try handoff.offer(UploadPartBuffer(buffer: buffer, isLast: true))
        } catch {
            gauge?.remove(buffer.readableBytes)
            handoff.fail(error)
        }
    }
}
