/// Why a configuration file was rejected, with where in the file.
///
/// The ``description`` is a single line in the compiler style, `config.yml:4:3: unknown key …`, so that editors and
/// terminals can jump to the spot.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: String, Sendable, Equatable {
        /// A key that is not part of the schema (Litestream would silently ignore it; we do not).
        case unknownKey
        /// A key that existed in an older Litestream and was removed; the message says what replaces it.
        case removedKey
        /// A value of the wrong type or out of range.
        case invalidValue
        /// A required value is absent.
        case missingValue
        /// Valid for Litestream, but not implemented here (yet).
        case unsupported
        /// The file could not be read.
        case io
        /// The text is not valid YAML.
        case yaml
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
    public var underlying: (any Error & Sendable)?

    public init(
        _ code: Code, _ message: String, line: Int? = nil, column: Int? = nil, source: String = "<config>",
        underlying: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        self.underlying = underlying
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
