/// A restore cannot proceed. `message` is the text Litestream 0.5.17 prints for the same situation.
public struct RestoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        public var description: String { raw }

        /// No chain of files reaches the target (`ErrTxNotAvailable`): "no matching backup files available".
        public static let noMatchingBackupFiles = Code("noMatchingBackupFiles")
        /// A latest restore would stop before files that exist further on: the replica has a hole.
        public static let nonContiguous = Code("nonContiguous")
        /// The point-in-time target is outside the replica's history: "timestamp does not exist".
        public static let timestampOutOfRange = Code("timestampOutOfRange")
        /// The replica holds no LTX files at all: "no backups found".
        public static let noBackups = Code("noBackups")
        /// The request itself is invalid (both a TXID and a timestamp).
        public static let invalidRequest = Code("invalidRequest")
        /// The output database already exists (and overwriting was not asked for).
        public static let outputExists = Code("outputExists")
        /// A stored file disagrees with its name or with the files before it.
        public static let inconsistent = Code("inconsistent")
        /// The restored database failed its integrity check; nothing was written at the output path.
        public static let integrity = Code("integrity")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static let noMatchingBackupFiles = RestoreError(.noMatchingBackupFiles, "no matching backup files available")
}
