public import LTX

/// A failed NATS replica operation, as one line a user can act on: it names the server (`nats://host:port`), the
/// bucket where it matters, and what is wrong. Never contains a password, token, JWT or seed.
public struct NATSError: CodedError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case unreachable, connectionLost, timedOut, authenticationFailed, bucketNotFound, jetStreamUnavailable
            case objectNotFound, apiError, protocolViolation, digestMismatch, invalidConfiguration, invalidCredentials
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The TCP connection or the TLS handshake could not be made (refused, no route, timeout).
        public static let unreachable = Code(.unreachable)
        /// An established connection closed under a request.
        public static let connectionLost = Code(.connectionLost)
        /// No answer to a request within the timeout.
        public static let timedOut = Code(.timedOut)
        /// The server refused the credentials (`-ERR 'Authorization Violation'`).
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The object store bucket (the stream `OBJ_<bucket>`) does not exist.
        public static let bucketNotFound = Code(.bucketNotFound)
        /// JetStream is not enabled on the server or for the account, or is not ready (503).
        public static let jetStreamUnavailable = Code(.jetStreamUnavailable)
        /// No such object (or it is marked deleted).
        public static let objectNotFound = Code(.objectNotFound)
        /// A JetStream API request was answered with an error (see ``NATSError/apiCode``).
        public static let apiError = Code(.apiError)
        /// The server sent something that is not the NATS protocol, or JSON that does not parse.
        public static let protocolViolation = Code(.protocolViolation)
        /// A downloaded object's SHA-256 differs from its recorded digest.
        public static let digestMismatch = Code(.digestMismatch)
        /// The configuration cannot work (no bucket, a bad URL, a client certificate without its key).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A credentials file, seed or JWT that cannot be read or decoded.
        public static let invalidCredentials = Code(.invalidCredentials)

        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    /// The HTTP-like status of a JetStream API error (404, 503, …), for ``Code/apiError``.
    public var apiCode: Int?
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, apiCode: Int? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.apiCode = apiCode
        self.cause = cause
    }

    /// Whether a new connection (or a later try) may succeed where this failed: the connection dropped, could not
    /// be made or timed out, or JetStream was not ready (a server that is starting answers 503). A refused
    /// credential or a missing bucket will fail again.
    public var isTransient: Bool {
        code == .unreachable || code == .connectionLost || code == .timedOut || code == .jetStreamUnavailable
            || (code == .apiError && apiCode == 503)
    }
}
