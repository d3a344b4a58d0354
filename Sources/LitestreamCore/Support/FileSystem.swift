public import SystemPackage

/// A failed system call: the operation, the path it was about, and errno (its text in `description`).
public struct SystemError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Errno
    public var description: String { "\(operation) \(path): \(errno)" }
    /// The disk (or quota) is full: the caller keeps its data and retries later.
    public var isDiskFull: Bool { errno == .noSpace || errno == .diskQuotaExceeded }

    package init(operation: String, path: String, errno: Errno) {
        (self.operation, self.path, self.errno) = (operation, path, errno)
    }

    package init(operation: String, path: String, errno: Int32) {
        self.init(operation: operation, path: path, errno: Errno(rawValue: errno))
    }

    /// The error the last failed C call left in `errno`.
    package static func last(_ operation: String, _ path: String) -> SystemError {
        SystemError(operation: operation, path: path, errno: Errno(rawValue: currentErrno()))
    }

    /// Runs a swift-system call (they throw `Errno`), naming `operation` and `path` in its error.
    package static func wrap<T>(_ operation: String, _ path: String, _ body: () throws -> T) throws(SystemError) -> T {
        do { return try body() } catch {
            throw SystemError(operation: operation, path: path, errno: error as? Errno ?? .ioError)
        }
    }
}

@inline(__always) private func currentErrno() -> Int32 { errno }

/// An open file, closed when this value goes away. Noncopyable, so exactly one owner closes it, and code that only
/// uses it borrows it: no descriptor outlives its owner or is closed twice.
package struct OpenFile: ~Copyable {
    package let descriptor: FileDescriptor
    package let path: String

    /// Opens `path`, close-on-exec; with `.create`, a new file gets `permissions`.
    package init(
        _ path: String, _ mode: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions = [],
        permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]
    ) throws(SystemError) {
        descriptor = try SystemError.wrap("open", path) {
            try FileDescriptor.open(FilePath(path), mode, options: options.union(.closeOnExec), permissions: permissions)
        }
        self.path = path
    }

    deinit { try? descriptor.close() }

    /// Opens `path` for reading, or returns nil if there is no such file.
    package static func ifExists(_ path: String) throws(SystemError) -> OpenFile? {
        do {
            return try OpenFile(path, .readOnly)
        } catch where error.errno == .noSuchFileOrDirectory {
            return nil
        }
    }

    /// A new, empty file at `path` for writing, whatever had the name removed first. For temporary files a crash can
    /// leave behind: a file replica hard-links what it uploads, so a leftover may share its inode with a replica
    /// file, and truncating or writing through it would damage that file.
    package static func creatingNew(_ path: String, permissions: FilePermissions = .ownerReadWrite) throws(SystemError) -> OpenFile {
        try POSIX.remove(path)
        return try OpenFile(path, .writeOnly, options: [.create, .exclusiveCreate], permissions: permissions)
    }

    /// Writes all of `buffer` at the current position.
    package func write(_ buffer: UnsafeRawBufferPointer) throws(SystemError) {
        _ = try SystemError.wrap("write", path) { try descriptor.writeAll(buffer) }
    }

    /// Writes all of `buffer` at `offset`, leaving the position alone.
    package func write(_ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SystemError) {
        _ = try SystemError.wrap("write", path) { try descriptor.writeAll(toAbsoluteOffset: offset, buffer) }
    }

    /// Runs `body` with a sink that writes to this file, for an API that keeps its sink (`LTXEncoder`): the file is
    /// borrowed, so open, until `body` returns, and the sink must not be used after that.
    package func withSink<R>(_ body: (_ sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> R) throws -> R {
        let (descriptor, path) = (self.descriptor, self.path)
        return try body { buffer in _ = try SystemError.wrap("write", path) { try descriptor.writeAll(buffer) } }
    }

    /// Reads up to `buffer.count` bytes from the current position; 0 means end of file.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try SystemError.wrap("read", path) { try descriptor.read(into: buffer) }
    }

    package func read(into buffer: inout [UInt8]) throws -> Int {
        try buffer.withUnsafeMutableBytes { try read(into: $0) }
    }

    /// Reads exactly `buffer.count` bytes at `offset`, or fewer only at end of file (the rest is zero-filled).
    @discardableResult
    package func readFully(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        var done = 0
        while done < buffer.count {
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            let n = try SystemError.wrap("read", path) { try descriptor.read(fromAbsoluteOffset: offset + Int64(done), into: rest) }
            if n == 0 { break }
            done += n
        }
        if done < buffer.count { UnsafeMutableRawBufferPointer(rebasing: buffer[done...]).initializeMemory(as: UInt8.self, repeating: 0) }
        return done
    }

    /// Flushes the file's data and metadata to disk (swift-system has no fsync).
    package func sync() throws(SystemError) {
        if fsync(descriptor.rawValue) != 0 { throw .last("fsync", path) }
    }

    /// Truncates or extends the file to `size` bytes.
    package func resize(to size: Int64) throws(SystemError) {
        try SystemError.wrap("ftruncate", path) { try descriptor.resize(to: size) }
    }

    package func size() throws(SystemError) -> Int64 {
        try SystemError.wrap("fstat", path) { try descriptor.stat().size }
    }
}

/// File-system helpers swift-system lacks (directories, rename, links, times). Every write path goes temp file →
/// fsync → rename → fsync directory.
package enum POSIX {
    package static func check(_ result: Int32, _ op: String, _ path: String) throws(SystemError) {
        if result < 0 { throw .last(op, path) }
    }

    package static func exists(_ path: String) -> Bool { (try? FilePath(path).stat()) != nil }

    package static func fileSize(_ path: String) -> Int64? { try? FilePath(path).stat().size }

    /// The ID of the file system holding `path`.
    package static func device(_ path: String) -> DeviceID? { try? FilePath(path).stat().deviceID }

    package static func mkdirs(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        if exists(path) { return }
        let parent = dirname(path)
        if parent != path && !parent.isEmpty { try mkdirs(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw .last("mkdir", path) }
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
            throw .last("opendir", path)
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

    package static func fsyncDirectory(_ path: String) throws(SystemError) {
        try OpenFile(path, .readOnly, options: .directory).sync()
    }

    package static func rename(_ from: String, _ to: String) throws(SystemError) {
        try check(renameat(AT_FDCWD, from, AT_FDCWD, to), "rename", from)
    }

    /// Makes `to` a second name of `from`; false if that is not possible (the name exists, no hard links, …).
    package static func hardLink(_ from: String, _ to: String) -> Bool { link(from, to) == 0 }

    /// Gives `from` the name `to` only if `to` does not exist, atomically: a file that appears at `to` meanwhile is
    /// never replaced (`rename(2)` would replace it). `link(2)` then `unlink(2)`; where the file system has no hard
    /// links, Linux's `renameat2(RENAME_NOREPLACE)`.
    ///
    /// - Returns: false if `to` exists (`from` is left as it was).
    package static func renameNoReplace(_ from: String, _ to: String) throws(SystemError) -> Bool {
        if link(from, to) == 0 {
            try remove(from)
            return true
        }
        let linkErrno = errno
        if linkErrno == EEXIST { return false }
        #if os(Linux)
        // EPERM: a file system without hard links (vfat, some FUSE ones) says so this way.
        if [EPERM, ENOTSUP, EOPNOTSUPP, EMLINK].contains(linkErrno), let renameat2 = renameat2Function {
            if renameat2(AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */) == 0 { return true }
            if errno == EEXIST { return false }
            throw .last("renameat2(RENAME_NOREPLACE)", to)
        }
        #endif
        throw SystemError(operation: "link", path: to, errno: linkErrno)
    }

    #if os(Linux)
    /// glibc 2.28+'s `renameat2`, looked up at run time: Swift's Glibc module leaves it out (it is a GNU extension).
    private static let renameat2Function: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32)? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32).self)
    }()
    #endif

    package static func remove(_ path: String) throws(SystemError) {
        if unlink(path) != 0 && errno != ENOENT { throw .last("unlink", path) }
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
        guard let mtime = try? FilePath(path).stat().st_mtim else { return nil }
        return Int64(mtime.tv_sec) * 1000 + Int64(mtime.tv_nsec) / 1_000_000
    }

    /// Unix milliseconds now.
    package static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
