/// An LTX file could not be written or read. The message names the file (when known) and what is wrong with it.
public struct LTXError: CodedError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value {
            case badMagic, invalidHeader, invalidPage, decompression, invalidIndex, checksumMismatch, truncated
            case trailingData, encoderMisuse, io
        }
        private let value: Value
        public var description: String { "\(value)" }

        /// Not an LTX file at all (wrong magic).
        public static let badMagic = Code(value: .badMagic)
        /// A header field breaks the format's rules.
        public static let invalidHeader = Code(value: .invalidHeader)
        /// A page frame is malformed or out of order.
        public static let invalidPage = Code(value: .invalidPage)
        /// Page data did not decompress to exactly one page.
        public static let decompression = Code(value: .decompression)
        /// The page index disagrees with the pages or is malformed.
        public static let invalidIndex = Code(value: .invalidIndex)
        /// The file checksum does not match the content.
        public static let checksumMismatch = Code(value: .checksumMismatch)
        /// The file ended early.
        public static let truncated = Code(value: .truncated)
        /// Bytes follow the trailer.
        public static let trailingData = Code(value: .trailingData)
        /// The caller broke an encoder rule (page order, lock page, snapshot density).
        public static let encoderMisuse = Code(value: .encoderMisuse)
        /// Reading or writing the underlying file failed.
        public static let io = Code(value: .io)
    }

    public var code: Code
    public var message: String
    /// The file the error is about, when known.
    public var file: String?
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, file: String? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.cause = cause
    }

    public var description: String {
        var s = file.map { "ltx file \($0): " } ?? "ltx: "
        s += message
        if let cause { s += " (\(cause))" }
        return s
    }

    func withFile(_ name: String?) -> LTXError {
        var e = self
        if e.file == nil { e.file = name }
        return e
    }
}
