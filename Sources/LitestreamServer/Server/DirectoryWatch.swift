public import LitestreamCore
import LitestreamClient
import SystemPackage

/// Directory mode's search for new databases (`dir:` with `watch: true`): scans the directory once, then hears of
/// new files from the process's inotify instance (`FileEventHub`) and looks at each new name alone. An idle
/// directory of thousands of tenants costs nothing; the old way rescanned it, with a `stat` per file, every monitor
/// interval.
///
/// Where there is no inotify (macOS, or no watch left) it rescans, every `pollInterval` at first and up to sixteen
/// times that while nothing new turns up.
public struct DirectoryWatch: Sendable {
    public var directory: DatabaseDirectory
    /// Keep looking after the first scan (`watch: true`); otherwise `run` returns after it.
    public var watch: Bool
    /// Without inotify: the first delay between rescans.
    public var pollInterval: Duration
    /// Whether the server already replicates the database at this path.
    private let isKnown: @Sendable (String) -> Bool
    /// Replicates a database found.
    private let found: @Sendable (String) -> Void

    /// - Parameters:
    ///   - directory: where to look.
    ///   - watch: keep looking after the first scan.
    ///   - pollInterval: without inotify, the first delay between rescans.
    ///   - isKnown: whether a path is already replicated (it is then not opened to check it is a database).
    ///   - found: called with each database found, once, unless `isKnown` says it already is.
    public init(directory: DatabaseDirectory, watch: Bool, pollInterval: Duration,
                isKnown: @escaping @Sendable (String) -> Bool, found: @escaping @Sendable (String) -> Void) {
        self.directory = directory
        self.watch = watch
        self.pollInterval = pollInterval
        self.isKnown = isKnown
        self.found = found
    }

    /// Finds what is there, then (with `watch`) what appears, until the task is cancelled.
    public func run() async throws {
        guard watch, let hub = FileEventHub.shared else { return try await rescanLoop() }
        let (changes, sink) = AsyncStream<Change>.makeStream()
        var tokens: [FileEventHub.Token] = []
        defer { tokens.forEach(hub.unsubscribe) }
        var watched = Set<String>()
        /// Watches each directory not watched yet; false if one cannot be (then rescanning is the only way).
        func watchAll(_ dirs: [String]) -> Bool {
            for dir in dirs where !watched.contains(dir) {
                guard let t = hub.subscribe(directory: dir, mask: Self.mask, handler: { event in
                    if event.lost { sink.yield(.rescan) } else if let name = event.name {
                        sink.yield(.created(dir + "/" + name))
                    }
                }) else { return false }
                tokens.append(t)
                watched.insert(dir)
            }
            return true
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            /// Looks at a new file again after `delay`.
            func check(_ path: String, after delay: Duration) {
                group.addTask {
                    try await Task.sleep(for: delay)
                    sink.yield(.check(path, delay))
                }
            }
            /// Replicates the databases of a scan; its files that are not databases yet are looked at again.
            func take(_ scan: (databases: [String], directories: [String], notYet: [String])) {
                report(scan.databases)
                for path in scan.notYet { check(path, after: pollInterval) }
            }
            // Watch before scanning: a database created in between is then both heard and scanned, never missed.
            guard watchAll([directory.path]) else { return try await rescanLoop() }
            let scan = directory.scanTree(directory.path, isKnown: isKnown)
            take(scan)
            if scan.directories.count > 1 {
                guard watchAll(scan.directories) else { return try await rescanLoop() }
                // Subdirectories watched only now may have got databases meanwhile.
                report(directory.scanTree(directory.path, isKnown: isKnown).databases)
            }
            for await change in changes {
                try Task.checkCancellation()
                switch change {
                case .created(let path):
                    let name = POSIX.basename(path)
                    guard let type = try? FilePath(path).stat(followTargetSymlink: false).type else { continue }
                    if type == .directory {
                        guard directory.isSearched(directory: name) else { continue }
                        guard watchAll([path]) else { return try await rescanLoop() }
                        let sub = directory.scanTree(path, isKnown: isKnown)
                        take(sub)
                        guard watchAll(sub.directories) else { return try await rescanLoop() }
                        if sub.directories.count > 1 { report(directory.scanTree(path, isKnown: isKnown).databases) }
                    } else if type == .regular, directory.isCandidate(name), !isKnown(path) {
                        // Not at once: SQLite creates the file empty and the app then sets it up (page size, WAL,
                        // schema); opening it meanwhile could answer the app's first statements "database is
                        // locked". A rescan found it about this late too.
                        check(path, after: pollInterval)
                    }
                case .check(let path, let delay):
                    guard !isKnown(path), POSIX.exists(path) else { continue }
                    switch DatabaseDirectory.contents(of: path) {
                    case .database: found(path)
                    case .notYet:
                        // Look again later, less often the longer it stays empty (no further event comes for it:
                        // only new names are heard).
                        check(path, after: min(delay * 2, pollInterval * 16))
                    case .other: break
                    }
                case .rescan:
                    // Events were lost (queue overflow, a directory removed): look at everything again.
                    let all = directory.scanTree(directory.path, isKnown: isKnown)
                    guard watchAll(all.directories) else { return try await rescanLoop() }
                    take(all)
                }
            }
            group.cancelAll()
        }
    }

    private enum Change: Sendable {
        case created(String)
        /// A new file to look at again (after the delay given).
        case check(String, Duration)
        case rescan
    }

    #if os(Linux)
    /// New names only: a database appears by creation (SQLite creates it empty) or by a rename into place.
    private static let mask = UInt32(IN_CREATE | IN_MOVED_TO)
    #else
    private static let mask: UInt32 = 0
    #endif

    private func report(_ paths: [String]) {
        paths.forEach(found)
    }

    /// Without events: rescans, backing off while nothing new turns up.
    private func rescanLoop() async throws {
        var delay = pollInterval
        while true {
            let new = directory.scanTree(directory.path, isKnown: isKnown).databases
            new.forEach(found)
            if !watch { return }
            delay = new.isEmpty ? min(delay * 2, pollInterval * 16) : pollInterval
            try await Task.sleep(for: delay)
        }
    }
}
