import Synchronization

/// The process's limit on open files (`RLIMIT_NOFILE`), which thousands of replicated databases reach.
///
/// Each database holds about ``perDatabase`` descriptors while it is open: the database file and the WAL for each
/// of its three SQLite connections (two for the read-mark handoff, one for the checkpoint barrier), the shared
/// `-shm`, and the lock on its local state directory; a few more for a moment while it syncs or uploads. A database
/// whose connections are closed while idle (`Replicator.Configuration.closeIdleAfter`, directory mode) holds none,
/// and counts here only while open.
///
/// A database is opened only while the soft limit leaves room for it and a reserve for the open ones' syncs and
/// uploads (``reserveDatabase()``); past that it is refused with an error that says so, and the databases already
/// open keep replicating.
public enum FileDescriptorLimit {
    /// Databases opened by replicators of this process.
    private static let openDatabases = Atomic<Int>(0)

    /// Counts one more open database, or throws when the soft limit has no room for it (``perDatabase``
    /// descriptors, with a reserve of a twentieth of the limit, at least 32, for syncs, uploads and the rest of
    /// the process). Call ``releaseDatabase()`` when it is closed.
    static func reserveDatabase(path: String) throws(EngineError) {
        let soft = current.map { Int(clamping: $0.soft) } ?? Int.max
        let reserve = max(32, soft / 20)
        var n = openDatabases.load(ordering: .relaxed)
        while true {
            guard soft == Int.max || (n + 1) * perDatabase + reserve <= soft else {
                throw EngineError(.tooManyOpenFiles, message(path: path, limit: "\(soft)", open: n))
            }
            let (done, now) = openDatabases.compareExchange(expected: n, desired: n + 1, ordering: .relaxed)
            if done { return }
            n = now
        }
    }

    static func releaseDatabase() {
        openDatabases.subtract(1, ordering: .relaxed)
    }

    /// Databases open now (their connections not closed while idle).
    package static var openDatabaseCount: Int { openDatabases.load(ordering: .relaxed) }

    private static func message(path: String, limit: String, open: Int?) -> String {
        "cannot replicate \(path): not enough file descriptors (limit \(limit)\(open.map { ", \($0) databases open" } ?? ""), "
            + "each needs about \(perDatabase)); the databases already open keep replicating, this one is retried. "
            + "Raise the hard limit (ulimit -Hn; LimitNOFILE= in systemd, --ulimit nofile= in Docker)"
    }

    /// Descriptors a replicated database keeps open, about.
    public static let perDatabase = 8

    /// The soft and hard limits now; nil if they cannot be read.
    public static var current: (soft: UInt64, hard: UInt64)? {
        var r = rlimit()
        guard getrlimit(resourceNoFile, &r) == 0 else { return nil }
        return (UInt64(r.rlim_cur), UInt64(r.rlim_max))
    }

    /// Raises the soft limit to the hard limit, as Go's runtime does at start for Litestream: the soft default
    /// (often 1,024) allows about 170 databases. Returns the limits afterwards.
    @discardableResult
    public static func raiseToHardLimit() -> (soft: UInt64, hard: UInt64)? {
        var r = rlimit()
        guard getrlimit(resourceNoFile, &r) == 0 else { return nil }
        if r.rlim_cur < r.rlim_max {
            var raised = r
            raised.rlim_cur = r.rlim_max
            // macOS refuses more than OPEN_MAX for the soft limit, whatever the hard limit says.
            if setrlimit(resourceNoFile, &raised) != 0 {
                #if canImport(Darwin)
                raised.rlim_cur = min(r.rlim_max, rlim_t(OPEN_MAX))
                _ = setrlimit(resourceNoFile, &raised)
                #endif
            }
        }
        return current
    }

    /// Whether the process is out of descriptors right now: opening `/dev/null` fails with EMFILE.
    public static var isExhausted: Bool {
        let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            close(fd)
            return false
        }
        return errno == EMFILE
    }

    /// `error`, or, when it happened because the process is out of descriptors, an error that says so and what
    /// to do.
    public static func explain(_ error: any Error, database path: String) -> any Error {
        if let e = error as? EngineError, e.code == .tooManyOpenFiles { return error }
        let said = "\(error)".lowercased().contains("too many open files")
        guard said || isExhausted else { return error }
        return EngineError(.tooManyOpenFiles, message(path: path, limit: current.map { "\($0.soft)" } ?? "unknown", open: nil),
            cause: error)
    }

    #if canImport(Glibc)
    private static let resourceNoFile = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resourceNoFile = RLIMIT_NOFILE
    #endif
}
