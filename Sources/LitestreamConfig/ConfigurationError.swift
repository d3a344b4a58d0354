public import LTX

/// Why a configuration file was rejected, with where in the file.
///
/// The ``description`` is a single line in the compiler style, `config.yml:4:3: unknown key …`, so that editors and
/// terminals can jump to the spot.
public struct ConfigurationError: CodedError, Sendable {
    /// The kind of problem.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value { case unknownKey, removedKey, invalidValue, missingValue, unsupported, io, yaml }
        private let value: Value
        public var description: String { "\(value)" }

        /// A key that is not part of the schema (Litestream would silently ignore it; we do not).
        public static let unknownKey = Code(value: .unknownKey)
        /// A key that existed in an older Litestream and was removed; the message says what replaces it.
        public static let removedKey = Code(value: .removedKey)
        /// A value of the wrong type or out of range.
        public static let invalidValue = Code(value: .invalidValue)
        /// A required value is absent.
        public static let missingValue = Code(value: .missingValue)
        /// Valid for Litestream, but not implemented here (yet).
        public static let unsupported = Code(value: .unsupported)
        /// The file could not be read.
        public static let io = Code(value: .io)
        /// The text is not valid YAML.
        public static let yaml = Code(value: .yaml)
    }

    public var code: Code
    /// What is wrong, without the location prefix.
    public var message: String
    /// 1-based line in the file, when known.
    public var line: Int?
    /// 1-based column in the file, when known.
    public var column: Int?
    /// The file name (or `<config>` for a string).
    public var source: String
    /// The lower-level error, if any (a file system or YAML error).
    public var cause: (any Error)?

    public init(
        _ code: Code, _ message: String, line: Int? = nil, column: Int? = nil, source: String = "<config>",
        cause: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        self.cause = cause
    }

    public var description: String {
        var prefix = source
        if let line {
            prefix += ":\(line)"
            if let column { prefix += ":\(column)" }
        }
        return "\(prefix): \(message)"
    }
}
