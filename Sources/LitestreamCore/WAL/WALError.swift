/// Reading a `-wal` file failed at the I/O level (open, stat or read returned an error, or a page could not be read
/// in full). Invalid WAL *content* is never an error: the reader reports it as `nil` or stops scanning there.
struct WALError: Error, Sendable, CustomStringConvertible {
    /// The `-wal` file the error is about.
    var path: String
    /// What failed, for example "read 4096 bytes at offset 8232".
    var message: String
    /// The `errno` of the failing system call, when there is one.
    var errno: Int32?

    init(path: String, message: String, errno: Int32? = nil) {
        self.path = path
        self.message = message
        self.errno = errno
    }

    var description: String {
        var s = "wal file \(path): \(message)"
        if let errno { s += " (\(WALError.errnoString(errno)))" }
        return s
    }

    static func errnoString(_ code: Int32) -> String {
        guard let p = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: p)), errno \(code)"
    }
}
