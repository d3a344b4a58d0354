public import LTX

/// A failed SFTP replica operation, as one line a user can act on: it names the endpoint (`user@host:port`) and
/// what is wrong. Never contains a password or key material.
public struct SFTPError: CodedError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case unreachable, connectionLost, hostKeyUnknown, hostKeyMismatch, authenticationFailed, invalidKey
            case status, protocolViolation, invalidConfiguration
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The TCP connection or the SSH handshake could not be made (refused, no route, timeout).
        public static let unreachable = Code(.unreachable)
        /// An established connection closed under a request.
        public static let connectionLost = Code(.connectionLost)
        /// The server's host key is in neither `host-key` nor the known-hosts file.
        public static let hostKeyUnknown = Code(.hostKeyUnknown)
        /// The server's host key differs from the configured or known one.
        public static let hostKeyMismatch = Code(.hostKeyMismatch)
        /// The server refused every credential offered (password, key).
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The private key file cannot be read or is of a kind not supported.
        public static let invalidKey = Code(.invalidKey)
        /// The server answered a request with an error status (see ``SFTPError/status``).
        public static let status = Code(.status)
        /// The server sent something that is not SFTP v3.
        public static let protocolViolation = Code(.protocolViolation)
        /// The configuration cannot work (no host, no user, no credential, a bad `host-key`).
        public static let invalidConfiguration = Code(.invalidConfiguration)

        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    /// The server's status code, for ``Code/status``.
    public var status: SFTPStatusCode?
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, status: SFTPStatusCode? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.cause = cause
    }

    /// Whether a new connection may succeed where this failed: the connection dropped or could not be made. A
    /// refused credential or host key, a missing file or a denied permission will fail again.
    public var isTransient: Bool {
        code == .unreachable || code == .connectionLost
            || (code == .status && (status == .noConnection || status == .connectionLost))
    }

    /// A status error saying the file or directory does not exist.
    public var isNoSuchFile: Bool { code == .status && status == .noSuchFile }
}
