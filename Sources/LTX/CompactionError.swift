/// Merging or compacting LTX files failed for a reason other than a damaged file (those throw `LTXError`, which
/// names the file). The message names the files involved.
public struct CompactionError: CodedError, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value {
            case noInputs, pageSizeMismatch, nonContiguous, incompleteSnapshot, headerMismatch, invalidLevel
            case invalidConfiguration
        }
        private let value: Value
        public var description: String { "\(value)" }

        /// A merge was asked for with no input files.
        public static let noInputs = Code(value: .noInputs)
        /// The inputs have different page sizes.
        public static let pageSizeMismatch = Code(value: .pageSizeMismatch)
        /// The inputs' TXID ranges do not follow each other (or do not follow the destination level's newest file).
        public static let nonContiguous = Code(value: .nonContiguous)
        /// The merged output would be a snapshot lacking some page: the inputs do not describe a whole database.
        public static let incompleteSnapshot = Code(value: .incompleteSnapshot)
        /// A file's header disagrees with its name in the replica listing.
        public static let headerMismatch = Code(value: .headerMismatch)
        /// The level cannot be compacted (0 and 9 are never compaction destinations; levels are 1...8).
        public static let invalidLevel = Code(value: .invalidLevel)
        /// A compaction-level configuration is invalid.
        public static let invalidConfiguration = Code(value: .invalidConfiguration)
    }

    public var code: Code, message: String, cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        (self.code, self.message, self.cause) = (code, message, cause)
    }

    public var description: String { "compaction: " + (cause.map { "\(message): \($0)" } ?? message) }
}
