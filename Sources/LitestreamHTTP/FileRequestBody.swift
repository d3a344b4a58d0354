package import AsyncHTTPClient
package import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A request body read from an open file as it is sent, a chunk at a time: memory stays at one chunk whatever
/// the file's size, and the body can be made again for a retry.
package enum FileRequestBody {
    /// A failure to read the file, with the path, for the caller's error.
    package struct ReadFailed: Error, CustomStringConvertible {
        package var path: String
        package var errno: Int32
        package var description: String { "cannot read \(path): \(String(cString: strerror(errno)))" }
    }

    /// The `count` bytes of the file open at `descriptor` from `offset`, with a known length (sent as
    /// `Content-Length`, never chunked: some WebDAV servers drop or refuse a chunked body). The descriptor is
    /// duplicated, so the body stays readable even if async-http-client reads it after the caller has closed its
    /// own (a server that answers before reading the whole body). `prefix` and `suffix` are sent before and after
    /// the file's bytes (the framing of a multipart body around a file).
    package static func make(
        descriptor: Int32, path: String, offset: Int64 = 0, count: Int64, chunkSize: Int = 256 << 10,
        prefix: [UInt8] = [], suffix: [UInt8] = []
    ) throws -> HTTPClientRequest.Body {
        let fd = dup(descriptor)
        guard fd >= 0 else { throw ReadFailed(path: path, errno: errno) }
        let chunks = Chunks(
            file: Descriptor(fd), path: path, offset: offset, end: offset + count, chunkSize: chunkSize,
            prefix: prefix, suffix: suffix)
        return .stream(chunks, length: .known(Int64(prefix.count) + count + Int64(suffix.count)))
    }

    private final class Descriptor: Sendable {
        let fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        deinit { close(fd) }
    }

    private struct Chunks: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let file: Descriptor
        let path: String
        let offset: Int64
        let end: Int64
        let chunkSize: Int
        let prefix: [UInt8]
        let suffix: [UInt8]

        func makeAsyncIterator() -> Iterator { Iterator(chunks: self, position: offset) }

        struct Iterator: AsyncIteratorProtocol {
            let chunks: Chunks
            var position: Int64
            var prefixSent = false
            var suffixSent = false

            mutating func next() async throws -> ByteBuffer? {
                if !prefixSent {
                    prefixSent = true
                    if !chunks.prefix.isEmpty { return ByteBuffer(bytes: chunks.prefix) }
                }
                guard position < chunks.end else {
                    guard !suffixSent else { return nil }
                    suffixSent = true
                    return chunks.suffix.isEmpty ? nil : ByteBuffer(bytes: chunks.suffix)
                }
                let want = Int(Swift.min(Int64(chunks.chunkSize), chunks.end - position))
                var buffer = ByteBufferAllocator().buffer(capacity: want)
                let (fd, at, path) = (chunks.file.fd, position, chunks.path)
                let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { b -> Int in
                    while true {
                        let r = pread(fd, b.baseAddress!, want, off_t(at))
                        if r >= 0 { return r }
                        if errno != EINTR { throw ReadFailed(path: path, errno: errno) }
                    }
                }
                // A file shorter than promised: the length sent would be a lie, so the request fails here.
                guard n > 0 else { throw ReadFailed(path: path, errno: EIO) }
                position += Int64(n)
                return buffer
            }
        }
    }
}
