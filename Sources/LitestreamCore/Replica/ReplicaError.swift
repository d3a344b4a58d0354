public import LTX

/// A replica refused a write because of what is already in it.
public struct ReplicaError: CodedError, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value { case fileExists }
        private let value: Value
        public var description: String { "\(value)" }

        /// A level-0 file already exists under the name being written: another process writes to the replica (a
        /// file of our own is never written twice, and never over another's).
        public static let fileExists = Code(value: .fileExists)
    }

    public var code: Code, message: String, cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        (self.code, self.message, self.cause) = (code, message, cause)
    }
}
