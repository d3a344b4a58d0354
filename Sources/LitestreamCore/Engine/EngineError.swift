public import LTX

/// An error from the replication engine, with a code a supervisor can act on.
public struct EngineError: CodedError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value { case databaseNotFound, databaseReplaced, notWALMode, sqlite, notOpen, invalidConfiguration, localState, io, timeout, notRunning, tooManyOpenFiles, foreignWriter, replicaLost }
        private let value: Value
        public var description: String { "\(value)" }

        /// The database file does not exist (yet).
        public static let databaseNotFound = Code(value: .databaseNotFound)
        /// The database file keeps being replaced while the engine opens it.
        public static let databaseReplaced = Code(value: .databaseReplaced)
        /// The database is not in WAL mode and could not be switched.
        public static let notWALMode = Code(value: .notWALMode)
        /// SQLite reported an error.
        public static let sqlite = Code(value: .sqlite)
        /// A configuration cannot work as given (no replica); the message says why.
        public static let invalidConfiguration = Code(value: .invalidConfiguration)
        /// The engine was used before `open` or after `close`.
        public static let notOpen = Code(value: .notOpen)
        /// The local state directory is damaged.
        public static let localState = Code(value: .localState)
        /// Reading or writing a file failed.
        public static let io = Code(value: .io)
        /// A wait (`sync -wait`) ran out of time.
        public static let timeout = Code(value: .timeout)
        /// The replicator is not running.
        public static let notRunning = Code(value: .notRunning)
        /// The process has no file descriptor left to open the database with (`RLIMIT_NOFILE`).
        public static let tooManyOpenFiles = Code(value: .tooManyOpenFiles)
        /// Another process writes to the replica: this replicator stopped writing to it (until it is restarted).
        public static let foreignWriter = Code(value: .foreignWriter)
        /// Files this replicator wrote are gone from the replica (it was deleted or emptied); it writes a snapshot
        /// again.
        public static let replicaLost = Code(value: .replicaLost)
    }

    public var code: Code, message: String, cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        (self.code, self.message, self.cause) = (code, message, cause)
    }
}
