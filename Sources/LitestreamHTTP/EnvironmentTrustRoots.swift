import Foundation
package import NIOSSL

/// The certificate authorities a deployment adds through `SSL_CERT_FILE` and `SSL_CERT_DIR`, trusted beside the
/// system's roots by every TLS client of the replicas (S3, GCS, Azure, OSS, WebDAV, NATS).
///
/// Litestream 0.5.17 is a Go program, and Go reads these two variables on Linux: a private CA for a WebDAV server
/// or an S3-compatible store is commonly set up this way. swift-nio-ssl reads neither, so without this a
/// deployment that works with Litestream would fail here with "certificate verify failed".
///
/// - `SSL_CERT_FILE`: a PEM bundle.
/// - `SSL_CERT_DIR`: directories separated by `:`; every regular file in them holding PEM certificates.
///
/// Go uses `SSL_CERT_FILE` in place of the default bundle file but still reads the default directories, which on
/// Debian and Ubuntu hold every system root; adding to the system's roots is therefore what a Go program does there.
package enum EnvironmentTrustRoots {
    /// `SSL_CERT_FILE` names a file that cannot be read or holds no certificate. The message names the variable
    /// and the path: a wrong path must not show up later as an untrusted server.
    package struct Invalid: Error, CustomStringConvertible {
        package var description: String
    }

    /// The additional roots named by `environment`, empty when neither variable is set.
    package static func roots(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> [NIOSSLAdditionalTrustRoots] {
        var certificates: [NIOSSLCertificate] = []
        if let file = environment["SSL_CERT_FILE"], !file.isEmpty {
            let found: [NIOSSLCertificate]
            do {
                found = try NIOSSLCertificate.fromPEMFile(file)
            } catch {
                throw Invalid(description: "SSL_CERT_FILE=\(file): cannot read PEM certificates from it (\(error))")
            }
            guard !found.isEmpty else { throw Invalid(description: "SSL_CERT_FILE=\(file) holds no PEM certificate") }
            certificates += found
        }
        for dir in (environment["SSL_CERT_DIR"] ?? "").split(separator: ":").map(String.init) where !dir.isEmpty {
            // A directory that is not there is skipped, as Go does: the variable often lists candidates.
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            // As Go: every file that parses as PEM certificates counts, the rest (a README, a CRL) is skipped.
            for name in names.sorted() {
                let path = dir + "/" + name
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                    let found = try? NIOSSLCertificate.fromPEMFile(path)
                else { continue }
                certificates += found
            }
        }
        return certificates.isEmpty ? [] : [.certificates(certificates)]
    }
}
