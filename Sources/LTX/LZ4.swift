import CLitestreamLZ4

/// Thin wrappers over liblz4: the raw block format used by current LTX pages, and the frame format of the legacy
/// per-page encoding (Litestream 0.5.0 – 0.5.15).
public enum LZ4 {
    /// The largest block `compress` can produce for `count` input bytes.
    public static func compressBound(_ count: Int) -> Int { Int(LZ4_compressBound(Int32(count))) }

    /// Compresses `source` into `destination` as one raw LZ4 block and returns the block's length.
    /// `destination` must hold at least `compressBound(source.count)` bytes.
    public static func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Int {
        let n = LZ4_compress_default(
            source.baseAddress?.assumingMemoryBound(to: CChar.self),
            destination.baseAddress?.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(destination.count))
        precondition(n > 0, "LZ4_compress_default failed with a bound-sized buffer")
        return Int(n)
    }

    /// Decompresses one raw LZ4 block that must expand to exactly `destination.count` bytes.
    public static func decompressBlock(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws {
        let n = LZ4_decompress_safe(
            source.baseAddress?.assumingMemoryBound(to: CChar.self),
            destination.baseAddress?.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(destination.count))
        guard n >= 0 else {
            throw LTXError(.decompression, "corrupt LZ4 block of \(source.count) bytes")
        }
        guard Int(n) == destination.count else {
            throw LTXError(.decompression, "LZ4 block expands to \(n) bytes, want \(destination.count)")
        }
    }

    /// Incremental decoder for one LZ4 frame at a time; the frame's own content checksum is verified by liblz4.
    final class FrameDecoder {
        private var context: OpaquePointer?

        init() {
            var ctx: OpaquePointer?
            let rc = LZ4F_createDecompressionContext(&ctx, UInt32(LZ4F_VERSION))
            precondition(LZ4F_isError(rc) == 0, "LZ4F_createDecompressionContext failed")
            context = ctx
        }

        deinit { LZ4F_freeDecompressionContext(context) }

        func reset() { LZ4F_resetDecompressionContext(context) }

        /// Feeds `source`, writing decoded bytes at `destination[written...]`.
        /// Returns (bytes consumed, bytes produced, frame finished).
        func decode(
            _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
        ) throws -> (consumed: Int, produced: Int, done: Bool) {
            var srcSize = source.count
            var dstSize = destination.count
            let rc = LZ4F_decompress(context, destination.baseAddress, &dstSize, source.baseAddress, &srcSize, nil)
            if LZ4F_isError(rc) != 0 {
                let name = String(cString: LZ4F_getErrorName(rc))
                throw LTXError(.decompression, "corrupt legacy LZ4 page frame: \(name)")
            }
            return (srcSize, dstSize, rc == 0)
        }
    }
}
