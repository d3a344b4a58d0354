import SystemPackage

/// Which file a path names: its device and inode. A database deleted and created again, another file renamed over
/// it, or `restore -force -o` onto its path all give the path a new identity, while the engine's SQLite connections
/// still read the old file.
struct FileIdentity: Sendable, Hashable, CustomStringConvertible {
    var device: UInt64
    var inode: UInt64

    /// The identity of the file at `path` now, following symlinks; nil when there is none.
    static func of(_ path: String) -> FileIdentity? {
        guard let st = try? FilePath(path).stat() else { return nil }
        return FileIdentity(device: UInt64(st.deviceID.rawValue), inode: UInt64(st.inode.rawValue))
    }

    var description: String { "dev \(device) inode \(inode)" }
}

/// A file's identity, size and modification time: changes when anyone writes it (to the kernel's clock tick) or
/// replaces it.
struct FileStamp: Sendable, Equatable {
    var identity: FileIdentity
    var size: Int64
    var modified: Int64

    /// The stamp of the file at `path` now; nil when there is none.
    static func of(_ path: String) -> FileStamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        #if canImport(Glibc)
        let modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        #else
        let modified = Int64(st.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(st.st_mtimespec.tv_nsec)
        #endif
        return FileStamp(identity: FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)),
            size: Int64(st.st_size), modified: modified)
    }
}
