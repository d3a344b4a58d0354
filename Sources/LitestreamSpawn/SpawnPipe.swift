#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pipe whose ends are both close-on-exec from the start, so that no other process this one starts inherits an
/// end: a stray copy of a write end keeps the reader from ever seeing end of file.
package struct SpawnPipe: Sendable {
    package let readEnd: Int32
    package let writeEnd: Int32

    /// - Throws: ``PipeError`` with the system's reason.
    package init() throws(PipeError) {
        var fds: [Int32] = [0, 0]
        #if canImport(Glibc)
        // pipe2 creates both ends close-on-exec atomically; pipe then fcntl leaves a window in which another
        // thread's spawn inherits them.
        guard let pipe2 = Self.pipe2 else { throw PipeError(code: ENOSYS) }
        guard pipe2(&fds, O_CLOEXEC) == 0 else { throw PipeError(code: errno) }
        #else
        guard pipe(&fds) == 0 else { throw PipeError(code: errno) }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        #endif
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    /// Moves `fd` to a number of at least 10, close-on-exec, closing the original. For an end that the child gets
    /// by `dup2` onto 0...3: in a process that closed its standard input or output, a new pipe can land on 0 or 1
    /// and be overwritten by another mapping before it is duplicated.
    package static func raised(_ fd: Int32) throws(PipeError) -> Int32 {
        let high = fcntl(fd, F_DUPFD_CLOEXEC, 10)
        let saved = errno
        close(fd)
        guard high >= 0 else { throw PipeError(code: saved) }
        return high
    }

    /// A pipe for one of a child's standard descriptors: ours to keep, and the child's, raised (see ``raised(_:)``)
    /// and mapped to `target`, to close once the child is spawned. `childReads`: the child reads its end (its
    /// standard input); otherwise it writes (its output).
    package static func forChild(
        _ target: Int32, childReads: Bool = false
    ) throws(PipeError) -> (ours: Int32, theirs: Int32, mapping: SpawnedProcess.Options.Mapping) {
        let pipe = try SpawnPipe()
        let (ours, child) = childReads ? (pipe.writeEnd, pipe.readEnd) : (pipe.readEnd, pipe.writeEnd)
        let theirs: Int32
        do { theirs = try raised(child) } catch {
            close(ours)
            throw error
        }
        return (ours, theirs, .init(theirs, to: target))
    }

    #if canImport(Glibc)
    /// `pipe2(2)`, declared by Glibc only under `_GNU_SOURCE`, which Swift's Glibc module does not define.
    private static let pipe2: (@convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32).self)
    }()
    #endif
}

/// A pipe could not be made.
package struct PipeError: Error, CustomStringConvertible {
    /// The `errno` value.
    package var code: Int32
    package var description: String { "cannot create a pipe: \(String(cString: strerror(code)))" }
}
