/// An error from the replication engine, with a code a supervisor can act on.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        public var description: String { raw }
        /// The database file does not exist (yet).
        public static let databaseNotFound = Code("databaseNotFound")
        /// The database is not in WAL mode and could not be switched.
        public static let notWALMode = Code("notWALMode")
        /// SQLite reported an error.
        public static let sqlite = Code("sqlite")
        /// The engine was used before `open` or after `close`.
        public static let notOpen = Code("notOpen")
        /// The local state directory is damaged.
        public static let localState = Code("localState")
        /// Reading or writing a file failed.
        public static let io = Code("io")
        /// A wait (`sync -wait`) ran out of time.
        public static let timeout = Code("timeout")
        /// The replicator is not running.
        public static let notRunning = Code("notRunning")
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        cause.map { "\(message): \($0)" } ?? message
    }
}
