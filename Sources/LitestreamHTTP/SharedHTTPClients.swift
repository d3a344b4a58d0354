package import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
package import NIOSSL
import Synchronization

/// The HTTP clients of the replica clients (S3, WebDAV): process-wide, created on first use and never shut down,
/// like `HTTPClient.shared`, so that no replica client has a lifetime to manage and copies of one share a pool.
package enum SharedHTTPClients {
    /// `HTTPClient.shared`'s configuration, except that a failed connection fails the request at once (after the
    /// 10 s connect timeout) instead of being retried inside async-http-client until the request's deadline: the
    /// replica clients' own retry loops report an unreachable endpoint after their attempts.
    package static func configuration(tls: TLSConfiguration? = nil) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        if let tls { configuration.tlsConfiguration = tls }
        return configuration
    }

    /// Verifies certificates against the system's trust roots and those of `SSL_CERT_FILE` / `SSL_CERT_DIR`
    /// (``EnvironmentTrustRoots``). Throws ``EnvironmentTrustRoots/Invalid`` when those name nothing readable.
    package static func standard() throws -> HTTPClient { try standardClient.get() }

    private static let standardClient = Result<HTTPClient, any Error> {
        let roots = try EnvironmentTrustRoots.roots()
        guard !roots.isEmpty else {
            return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration())
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = roots
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration(tls: tls))
    }

    /// Skips certificate verification (a self-signed store, by explicit configuration only).
    package static let insecure: HTTPClient = {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration(tls: tls))
    }()

    private static let caClients = Mutex<[String: HTTPClient]>([:])

    /// A client that also trusts the certificates of the PEM file at `path` (beside those of ``standard()``); one per
    /// path. Throws what `NIOSSLCertificate.fromPEMFile` throws when the file cannot be read.
    package static func client(caBundle path: String) throws -> HTTPClient {
        try caClients.withLock { clients in
            if let c = clients[path] { return c }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = try EnvironmentTrustRoots.roots() + [.certificates(NIOSSLCertificate.fromPEMFile(path))]
            let c = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration(tls: tls))
            clients[path] = c
            return c
        }
    }
}
