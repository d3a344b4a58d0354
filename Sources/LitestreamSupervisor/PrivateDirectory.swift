import Foundation

/// A directory only this user can enter (0700, from `mkdtemp`), for the child's generated configuration and its
/// control socket. The socket answers `sync` and `status` to anyone who can reach it, and the configuration names
/// the databases and buckets: neither belongs in a world-readable place.
struct PrivateDirectory: Sendable {
    let path: String

    /// A socket path must fit in `sockaddr_un.sun_path` (104 bytes on macOS, 108 on Linux); a long `TMPDIR`
    /// (macOS's are ~50 characters) is passed over for `/tmp` when it would not leave room.
    private static let longestSocketPath = 100

    /// Creates a new directory under `TMPDIR` (or `/tmp`).
    ///
    /// - Parameter room: the longest file name that will be put in it.
    static func create(environment: [String: String], room: Int = 32) throws -> PrivateDirectory {
        var parents: [String] = []
        if let tmp = environment["TMPDIR"], !tmp.isEmpty { parents.append(tmp) }
        parents.append("/tmp")
        let prefix = "litestream-"
        let parent = parents.first { $0.count + 1 + prefix.count + 6 + 1 + room <= longestSocketPath } ?? "/tmp"
        var template = Array((parent.hasSuffix("/") ? parent : parent + "/").utf8CString.dropLast())
        template += Array((prefix + "XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let result = mkdtemp(buffer.baseAddress!) else { return nil }
            return String(cString: result)
        }
        guard let created else {
            throw SupervisorError(
                .invalidConfiguration, "cannot create a private directory in \(parent): \(String(cString: strerror(errno)))")
        }
        return PrivateDirectory(path: created)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// Writes `contents` to a new file readable by this user only (0600), created with that mode so that it never
    /// exists with wider permissions.
    func write(_ contents: String, to name: String) throws -> String {
        let target = file(name)
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SupervisorError(.invalidConfiguration, "cannot create \(target): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: Data(contents.utf8))
        } catch {
            throw SupervisorError(.invalidConfiguration, "cannot write \(target)", cause: error)
        }
        return target
    }

    /// Removes the directory and everything in it.
    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
