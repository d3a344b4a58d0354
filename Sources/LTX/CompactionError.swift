/// Merging or compacting LTX files failed for a reason other than a damaged file (those throw `LTXError`, which
/// names the file). The message names the files involved.
public struct CompactionError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        public var description: String { raw }

        /// A merge was asked for with no input files.
        public static let noInputs = Code("noInputs")
        /// The inputs have different page sizes.
        public static let pageSizeMismatch = Code("pageSizeMismatch")
        /// The inputs' TXID ranges do not follow each other (or do not follow the destination level's newest file).
        public static let nonContiguous = Code("nonContiguous")
        /// The merged output would be a snapshot lacking some page: the inputs do not describe a whole database.
        public static let incompleteSnapshot = Code("incompleteSnapshot")
        /// A file's header disagrees with its name in the replica listing.
        public static let headerMismatch = Code("headerMismatch")
        /// The level cannot be compacted (0 and 9 are never compaction destinations; levels are 1...8).
        public static let invalidLevel = Code("invalidLevel")
        /// A compaction-level configuration is invalid.
        public static let invalidConfiguration = Code("invalidConfiguration")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "compaction: \(message)" }
}
