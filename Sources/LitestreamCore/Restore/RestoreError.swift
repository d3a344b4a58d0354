public import LTX

/// A restore cannot proceed. `message` is the text Litestream 0.5.17 prints for the same situation.
public struct RestoreError: CodedError, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value {
            case noMatchingBackupFiles, nonContiguous, timestampOutOfRange, noBackups, invalidRequest, outputExists
            case inconsistent, integrity
        }
        private let value: Value
        public var description: String { "\(value)" }

        /// No chain of files reaches the target (`ErrTxNotAvailable`): "no matching backup files available".
        public static let noMatchingBackupFiles = Code(value: .noMatchingBackupFiles)
        /// A latest restore would stop before files that exist further on: the replica has a hole.
        public static let nonContiguous = Code(value: .nonContiguous)
        /// The point-in-time target is outside the replica's history: "timestamp does not exist".
        public static let timestampOutOfRange = Code(value: .timestampOutOfRange)
        /// The replica holds no LTX files at all: "no backups found".
        public static let noBackups = Code(value: .noBackups)
        /// The request itself is invalid (both a TXID and a timestamp).
        public static let invalidRequest = Code(value: .invalidRequest)
        /// The output database already exists (and overwriting was not asked for).
        public static let outputExists = Code(value: .outputExists)
        /// A stored file disagrees with its name or with the files before it.
        public static let inconsistent = Code(value: .inconsistent)
        /// The restored database failed its integrity check; nothing was written at the output path.
        public static let integrity = Code(value: .integrity)
    }

    public var code: Code, message: String, cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        (self.code, self.message, self.cause) = (code, message, cause)
    }

    public static let noMatchingBackupFiles = RestoreError(.noMatchingBackupFiles, "no matching backup files available")
}
