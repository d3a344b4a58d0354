public import LTX

/// A failed WebDAV request, as one line a user can act on: the method, the URL (never a password), what the
/// server answered or why nothing came back, and what to check.
public struct WebDAVError: CodedError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value {
            case unauthorized, forbidden, notFound, notWebDAV, connectionFailed, fileChanged, malformedResponse
            case insufficientStorage, httpStatus
        }
        private let value: Value
        public var description: String { "\(value)" }

        /// 401: the server refused the credentials (or wants some).
        public static let unauthorized = Code(value: .unauthorized)
        /// 403: the credentials are not allowed this.
        public static let forbidden = Code(value: .forbidden)
        /// 404: no such file or directory (for the start-up check: the server's root path does not exist).
        public static let notFound = Code(value: .notFound)
        /// 405 or 501 to PROPFIND: the URL is an HTTP server without WebDAV there.
        public static let notWebDAV = Code(value: .notWebDAV)
        /// No answer: connection refused, unknown host, TLS failure, timeout.
        public static let connectionFailed = Code(value: .connectionFailed)
        /// A download resumed after a cut found the file replaced meanwhile.
        public static let fileChanged = Code(value: .fileChanged)
        /// An answer that is not what WebDAV promises (a PROPFIND that is no multistatus, a short body).
        public static let malformedResponse = Code(value: .malformedResponse)
        /// 507: the server's storage is full.
        public static let insufficientStorage = Code(value: .insufficientStorage)
        /// Any other status.
        public static let httpStatus = Code(value: .httpStatus)
    }

    public var code: Code
    public var message: String
    /// The HTTP status, nil when no answer arrived.
    public var statusCode: Int?
    /// The lower-level failure when no answer arrived.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, statusCode: Int? = nil, cause: (any Error)? = nil) {
        (self.code, self.message, self.statusCode, self.cause) = (code, message, statusCode, cause)
    }

    /// One line: the message says everything (the cause is described in it, without NIO's internals).
    public var description: String { message.split(whereSeparator: \.isNewline).joined(separator: " ") }

    /// Whether trying again may succeed: no answer, a 5xx other than 501 and 507, 408, 423 (locked) or 429.
    public var isTransient: Bool {
        guard let statusCode else { return code == .connectionFailed || code == .malformedResponse }
        if statusCode == 501 || statusCode == 507 { return false }
        return statusCode >= 500 || statusCode == 408 || statusCode == 423 || statusCode == 429
    }

    /// The error for an answer with an unexpected status to `method` on `url` (a URL without credentials).
    static func status(_ status: Int, reason: String, method: String, url: String, user: String?) -> WebDAVError {
        let head = "webdav \(method) \(url) failed: HTTP \(status)\(reason.isEmpty ? "" : " \(reason)")"
        switch status {
        case 401:
            let who = user.map { "user \($0)" } ?? "no credentials"
            return WebDAVError(.unauthorized,
                "\(head) (the server refused \(who): check webdav-username and webdav-password, or the URL's user info)",
                statusCode: status)
        case 403:
            return WebDAVError(.forbidden,
                "\(head) (the credentials are not allowed to do this here: check the server's permissions for \(url))",
                statusCode: status)
        case 404:
            return WebDAVError(.notFound, "\(head) (no such file or directory)", statusCode: status)
        case 507:
            return WebDAVError(.insufficientStorage, "\(head) (the server's storage is full)", statusCode: status)
        default:
            return WebDAVError(.httpStatus, head, statusCode: status)
        }
    }
}
