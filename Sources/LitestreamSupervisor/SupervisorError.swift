public import LTX

/// An error from the supervisor, with a code the app can act on.
public struct SupervisorError: CodedError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value { case executableNotFound, spawnFailed, notRunning, timeout, commandFailed, invalidConfiguration }
        private let value: Value
        public var description: String { "\(value)" }

        /// No `litestream` executable was found; the message says where the supervisor looked.
        public static let executableNotFound = Code(value: .executableNotFound)
        /// The child could not be started.
        public static let spawnFailed = Code(value: .spawnFailed)
        /// The replicator is not running (disabled, starting, restarting or given up).
        public static let notRunning = Code(value: .notRunning)
        /// A wait (`sync(waitForReplicas:)`, a stop) ran out of time.
        public static let timeout = Code(value: .timeout)
        /// A `litestream` command (restore, verify, ...) exited with a failure; the message holds its error.
        public static let commandFailed = Code(value: .commandFailed)
        /// The configuration cannot work as given; the message says why.
        public static let invalidConfiguration = Code(value: .invalidConfiguration)
    }

    public var code: Code, message: String, cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        (self.code, self.message, self.cause) = (code, message, cause)
    }
}
