/// The shape of this package's errors, after swift-service-lifecycle's `ServiceGroupError`: a `code` to act on, a
/// `message` for people, and the lower-level error behind it, if any.
///
/// `Code` is a struct wrapping a private enum, so that a code can be added without breaking callers that switch
/// on it. Conforming types get a `description` (the message, then the cause) and, when they declare `Equatable`,
/// equality of code and message.
public protocol CodedError: Error, CustomStringConvertible {
    associatedtype Code: Hashable, Sendable, CustomStringConvertible
    var code: Code { get }
    var message: String { get }
    var cause: (any Error)? { get }
}

extension CodedError {
    public var description: String { cause.map { "\(message): \($0)" } ?? message }
}

extension CodedError where Self: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code && lhs.message == rhs.message }
}
