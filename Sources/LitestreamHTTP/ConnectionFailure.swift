import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Describing a request that got no response, for the one-line errors of the replica clients.
package enum ConnectionFailure {
    /// What went wrong when no response arrived, in a few words: connection refused, an unknown host, a TLS
    /// failure, a timeout. NIOPosix's connection errors are not public: they
    /// are recognised by their contents.
    package static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return "connection timed out"
            case .tlsHandshakeTimeout: return "TLS handshake timed out"
            case .remoteConnectionClosed: return "the server closed the connection"
            case .readTimeout: return "read timed out"
            case .deadlineExceeded: return "request timed out"
            case .getConnectionFromPoolTimeout: return "no HTTP connection became free in time (too many requests at once)"
            default: return "\(e)"
            }
        }
        if let e = error as? IOError { return Self.errnoDescription(e.errnoCode) }
        if isUntrustedCertificate(error) {
            return "the server's TLS certificate is not trusted (\(error is NIOSSLExtraError ? "it does not name this host" : "certificate verify failed")); "
                + "for a private CA, set SSL_CERT_FILE to its certificate (docs/replicas.md)"
        }
        if error is NIOSSLError || error is BoringSSLError { return "TLS failure: \(error)" }
        // NIOPosix's NIOConnectionError: host, port, DNS errors and one error per address tried.
        let mirror = Mirror(reflecting: error)
        var dnsFailed = false
        var host: String?
        var attempts: [String] = []
        for child in mirror.children {
            switch child.label {
            case "host": host = child.value as? String
            case "dnsAError", "dnsAAAAError":
                if String(describing: child.value) != "nil" { dnsFailed = true }
            case "connectionErrors":
                for failure in Mirror(reflecting: child.value).children {
                    for part in Mirror(reflecting: failure.value).children where part.label == "error" {
                        if let io = part.value as? IOError {
                            attempts.append(Self.errnoDescription(io.errnoCode))
                        } else if let inner = part.value as? any Error {
                            attempts.append(describe(inner))
                        }
                    }
                }
            default: break
            }
        }
        if !attempts.isEmpty { return Array(Set(attempts)).sorted().joined(separator: "; ") }
        if dnsFailed { return "cannot resolve host \(host ?? "")" }
        let text = String(describing: error)
        if text.contains("connectTimeout") || text.contains("timeout") { return "connection timed out: \(text)" }
        return text
    }

    /// Whether trying again cannot help: the server's certificate is not trusted, or does not name the host. The
    /// retry loops report these at once instead of after their attempts.
    package static func isPermanent(_ error: any Error) -> Bool { isUntrustedCertificate(error) }

    static func isUntrustedCertificate(_ error: any Error) -> Bool {
        if let e = error as? NIOSSLExtraError, e == .failedToValidateHostname { return true }
        guard error is NIOSSLError || error is BoringSSLError else { return false }
        return String(describing: error).contains("CERTIFICATE_VERIFY_FAILED")
    }

    package static func errnoDescription(_ code: Int32) -> String {
        switch code {
        case ECONNREFUSED: return "connection refused"
        case ECONNRESET: return "connection reset by peer"
        case ETIMEDOUT: return "connection timed out"
        case EHOSTUNREACH: return "host unreachable"
        case ENETUNREACH: return "network unreachable"
        default: return String(cString: strerror(code))
        }
    }
}
