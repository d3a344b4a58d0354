import Foundation
public import LTX
import LitestreamHTTP
import NIOHTTP1

/// A failed Azure Blob Storage request, as one line a user can act on: the operation, the URL (never its query,
/// where a SAS token would be), the service's error code and message or why nothing answered, and what to check.
public struct ABSError: CodedError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value { case authentication, forbidden, containerNotFound, blobNotFound, connectionFailed, malformedResponse, httpStatus }
        private let value: Value
        public var description: String { "\(value)" }

        /// 403 `AuthenticationFailed`: the key or SAS token was refused (or the clock is off by more than 15 minutes).
        public static let authentication = Code(value: .authentication)
        /// 403 otherwise: the SAS token lacks a permission, or a firewall rule refuses this address.
        public static let forbidden = Code(value: .forbidden)
        /// 404 `ContainerNotFound`.
        public static let containerNotFound = Code(value: .containerNotFound)
        /// 404 for a blob.
        public static let blobNotFound = Code(value: .blobNotFound)
        /// No answer: connection refused, unknown host, TLS failure, timeout.
        public static let connectionFailed = Code(value: .connectionFailed)
        /// An answer that is not what the service promises.
        public static let malformedResponse = Code(value: .malformedResponse)
        /// Any other status.
        public static let httpStatus = Code(value: .httpStatus)
    }

    public var code: Code
    public var message: String
    /// The HTTP status, nil when no answer arrived.
    public var statusCode: Int?
    /// The service's error code (`AuthenticationFailed`, `ContainerNotFound`, `BlobAlreadyExists`, …).
    public var serviceCode: String?
    /// The lower-level failure when no answer arrived.
    public var cause: (any Error)?
    /// Which try got this answer (0: the first): a retry's conflict may be about our own earlier write.
    public var attempt = 0

    public init(_ code: Code, _ message: String, statusCode: Int? = nil, serviceCode: String? = nil, cause: (any Error)? = nil) {
        (self.code, self.message, self.statusCode, self.serviceCode, self.cause) = (code, message, statusCode, serviceCode, cause)
    }

    /// One line.
    public var description: String { message.split(whereSeparator: \.isNewline).joined(separator: " ") }

    /// Statuses Litestream's Azure client retries: 408, 429, 500, 502, 503, 504.
    static func isTransient(status: Int) -> Bool { [408, 429, 500, 502, 503, 504].contains(status) }

    /// The error for an answer the caller did not expect to `operation` on `url` (without its query).
    static func answer(_ r: HTTPExchange.Response, operation: String, url: String, container: String, account: String,
                       usesSAS: Bool) -> ABSError {
        let parsed = ABSXML.parseError(r.body)
        let service = parsed?.code ?? r.headers.first(name: "x-ms-error-code")
        var head = "abs \(operation) \(url) failed: HTTP \(r.status)"
        if let service { head += " \(service)" }
        if let m = parsed?.message.split(whereSeparator: \.isNewline).first, !m.isEmpty { head += ": \(m)" }
        let credential = usesSAS ? "sas-token" : "account-key of account \(account)"
        var e: ABSError
        switch (r.status, service) {
        case (403, "AuthenticationFailed"?), (403, nil):
            e = ABSError(.authentication,
                "\(head) (the service refused the \(credential): check it, and that the clock is right)",
                statusCode: r.status, serviceCode: service)
        case (403, _):
            e = ABSError(.forbidden,
                "\(head) (the \(credential) may not do this on container \(container): check its permissions)",
                statusCode: r.status, serviceCode: service)
        case (404, "ContainerNotFound"?):
            e = ABSError(.containerNotFound,
                "\(head) (container \(container) does not exist in account \(account): check bucket and account-name)",
                statusCode: r.status, serviceCode: service)
        case (404, _):
            e = ABSError(.blobNotFound, "\(head) (no such blob)", statusCode: r.status, serviceCode: service)
        default:
            e = ABSError(.httpStatus, head, statusCode: r.status, serviceCode: service)
        }
        e.attempt = r.attempt
        return e
    }

    /// The error for a request that got no answer.
    static func noAnswer(_ failure: HTTPExchange.NoAnswer, operation: String, url: String, endpoint: String) -> ABSError {
        ABSError(.connectionFailed,
            "abs \(operation) \(url) failed: \(failure) (check that the endpoint \(endpoint) is reachable)",
            cause: failure.cause)
    }
}
