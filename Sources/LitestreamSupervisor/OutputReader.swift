import Foundation
import LitestreamClient

/// Reads a child's standard output and standard error line by line until both reach end of file, on a thread of
/// its own, and hands each line to a callback.
///
/// Why a thread and `poll`: the reads block until the child writes, possibly for hours; a blocked read on Swift
/// concurrency's pool (two threads on a two-core machine) would starve the app. One thread serves both pipes, and
/// `poll` sleeps in the kernel between lines: no busy loop.
final class OutputReader: Sendable {
    /// Which pipe a line came from.
    enum Stream: Sendable { case standardOutput, standardError }

    /// A line longer than this is handed over in pieces, so that a child printing without newlines cannot make the
    /// supervisor buffer without bound.
    static let maximumLineLength = 64 * 1024

    private let finished = DispatchSemaphore(value: 0)

    /// Starts reading. Takes ownership of the descriptors and closes them at end of file.
    init(standardOutput: Int32, standardError: Int32, onLine: @escaping @Sendable (Stream, String) -> Void) {
        let finished = self.finished
        let thread = Thread {
            Self.pump([(standardOutput, .standardOutput), (standardError, .standardError)], onLine: onLine)
            finished.signal()
        }
        thread.name = "litestream-output"
        thread.stackSize = 512 << 10
        thread.start()
    }

    /// Waits until both pipes reached end of file (the child and anything it started closed them), at most
    /// `timeout`. Returns false on timeout: a grandchild may still hold a pipe open, and nobody should hang on it.
    @discardableResult
    func waitUntilFinished(timeout: Duration) -> Bool {
        let nanoseconds = max(0, min(timeout.wholeNanoseconds, Int64(Int.max)))
        return finished.wait(timeout: .now() + .nanoseconds(Int(nanoseconds))) == .success
    }

    private static func pump(_ descriptors: [(Int32, Stream)], onLine: (Stream, String) -> Void) {
        var open = descriptors
        var pending: [[UInt8]] = descriptors.map { _ in [] }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        func emit(_ bytes: ArraySlice<UInt8>, _ stream: Stream) {
            var line = bytes
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            onLine(stream, String(decoding: line, as: UTF8.self))
        }
        while !open.isEmpty {
            var polled = open.map { pollfd(fd: $0.0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&polled, nfds_t(polled.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            var closed: [Int] = []
            for (index, entry) in polled.enumerated() where entry.revents != 0 {
                let (fd, stream) = open[index]
                let slot = descriptors.firstIndex { $0.0 == fd }!
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n <= 0 {
                    if !pending[slot].isEmpty { emit(pending[slot][...], stream) }
                    pending[slot] = []
                    closed.append(index)
                    continue
                }
                pending[slot].append(contentsOf: buffer[..<n])
                var start = 0
                let bytes = pending[slot]
                while let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    emit(bytes[start..<newline], stream)
                    start = newline + 1
                }
                while bytes.count - start >= maximumLineLength {
                    emit(bytes[start..<(start + maximumLineLength)], stream)
                    start += maximumLineLength
                }
                pending[slot] = Array(bytes[start...])
            }
            for index in closed.sorted(by: >) {
                close(open[index].0)
                open.remove(at: index)
            }
        }
        for (fd, _) in open { close(fd) }
    }
}
