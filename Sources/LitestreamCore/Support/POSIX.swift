#if canImport(Glibc)
import Glibc
// `struct stat` and `timespec` are attributed to CoreFoundation's module once Foundation is in the target.
import CoreFoundation
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call, with the path it was about and errno's text.
public struct SystemError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32
    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
    /// The disk (or quota) is full: the caller keeps its data and retries later.
    public var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }

    package init(operation: String, path: String, errno: Int32) {
        (self.operation, self.path, self.errno) = (operation, path, errno)
    }
}

/// Small POSIX helpers. Every write path goes temp file → fsync → rename → fsync directory.
package enum POSIX {
    package static func check(_ result: Int32, _ op: String, _ path: String) throws(SystemError) {
        if result < 0 { throw SystemError(operation: op, path: path, errno: errno) }
    }

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws(SystemError) -> Int32 {
        while true {
            let fd = platformOpen(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw SystemError(operation: "open", path: path, errno: errno)
        }
    }

    package static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    package static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    /// The ID of the file system holding `path`.
    package static func device(_ path: String) -> UInt64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt64(st.st_dev)
    }

    package static func fileSize(fd: Int32) throws(SystemError) -> Int64 {
        var st = stat()
        try check(fstat(fd, &st), "fstat", "fd \(fd)")
        return Int64(st.st_size)
    }

    package static func mkdirs(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        if exists(path) { return }
        let parent = dirname(path)
        if parent != path && !parent.isEmpty { try mkdirs(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw SystemError(operation: "mkdir", path: path, errno: errno) }
    }

    package static func dirname(_ path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return "." }
        return i == path.startIndex ? "/" : String(path[..<i])
    }

    package static func basename(_ path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: i)...])
    }

    package static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw SystemError(operation: "opendir", path: path, errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        // The name is read in place: a dirent is only d_reclen bytes long, so copying the struct (its 256-byte
        // d_name) can read past the end of the kernel's buffer and crash when that is the end of a page.
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while let entry = readdir(dir) {
            let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    package static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(SystemError) {
        var done = 0
        while done < buffer.count {
            let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError(operation: "write", path: path, errno: errno)
            }
            done += n
        }
    }

    package static func pwriteAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(SystemError) {
        var done = 0
        while done < buffer.count {
            let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError(operation: "write", path: path, errno: errno)
            }
            done += n
        }
    }

    /// Reads exactly `buffer.count` bytes at `offset`, or fewer only at end of file (the rest is zero-filled).
    @discardableResult
    package static func preadFull(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String) throws(SystemError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError(operation: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        if done < buffer.count { (buffer.baseAddress! + done).initializeMemory(as: UInt8.self, repeating: 0, count: buffer.count - done) }
        return done
    }

    package static func fsync(_ fd: Int32, path: String) throws(SystemError) {
        #if canImport(Glibc)
        try check(Glibc.fsync(fd), "fsync", path)
        #else
        try check(Darwin.fsync(fd), "fsync", path)
        #endif
    }

    package static func fsyncDirectory(_ path: String) throws(SystemError) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: path)
    }

    package static func rename(_ from: String, _ to: String) throws(SystemError) {
        #if canImport(Glibc)
        try check(Glibc.rename(from, to), "rename", from)
        #else
        try check(Darwin.rename(from, to), "rename", from)
        #endif
    }

    package static func remove(_ path: String) throws(SystemError) {
        if unlink(path) != 0 && errno != ENOENT { throw SystemError(operation: "unlink", path: path, errno: errno) }
    }

    /// Sets the modification (and access) time, in Unix milliseconds.
    package static func setModificationTime(_ path: String, milliseconds: Int64) throws(SystemError) {
        var times = [timespec](repeating: timespec(), count: 2)
        for i in 0..<2 {
            times[i].tv_sec = time_t(milliseconds / 1000)
            times[i].tv_nsec = Int((milliseconds % 1000) * 1_000_000)
        }
        try check(utimensat(AT_FDCWD, path, &times, 0), "utimensat", path)
    }

    package static func modificationTimeMilliseconds(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        #if canImport(Glibc)
        return Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000
        #else
        return Int64(st.st_mtimespec.tv_sec) * 1000 + Int64(st.st_mtimespec.tv_nsec) / 1_000_000
        #endif
    }

    /// Unix milliseconds now.
    package static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    private static func platformOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
        #if canImport(Glibc)
        return Glibc.open(path, flags, mode)
        #else
        return Darwin.open(path, flags, mode)
        #endif
    }
}

/// An owned file descriptor, closed when the handle goes away.
package final class FileDescriptor: @unchecked Sendable {
    package let fd: Int32
    package let path: String
    package init(path: String, flags: Int32, mode: mode_t = 0o644) throws(SystemError) {
        self.fd = try POSIX.open(path, flags, mode)
        self.path = path
    }
    deinit { close(fd) }

    /// A new, empty file at `path` for writing, whatever had the name removed first. For temporary files a crash can
    /// leave behind: a file replica hard-links what it uploads, so a leftover may share its inode with a replica
    /// file, and truncating or writing through it would damage that file.
    package static func creatingNew(path: String) throws(SystemError) -> FileDescriptor {
        try POSIX.remove(path)
        return try FileDescriptor(path: path, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode: 0o600)
    }
}
