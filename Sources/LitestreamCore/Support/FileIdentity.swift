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
