import Logging
import NIOCore
import NIOSSH
import Synchronization

/// What the delegates of one SSH handshake saw, so that a failed connection can say why: the host key refused (and
/// which key was presented) or every credential refused.
final class SSHHandshakeReport: Sendable {
    struct State {
        var hostKeyError: SFTPError?
        var authenticationError: SFTPError?
        var timedOut = false
    }

    let state = Mutex(State())
}

/// Checks the server's host key against the configured policy.
struct SSHHostKeyValidator: NIOSSHClientServerAuthenticationDelegate {
    var policy: SSHHostKeyPolicy
    /// The known-hosts file, read before connecting (for ``SSHHostKeyPolicy/knownHosts(path:)``).
    var knownHosts: SSHKnownHosts?
    var host: String
    var port: Int
    var endpoint: String
    var report: SSHHandshakeReport
    var logger: Logger

    func validateHostKey(hostKey: NIOSSHPublicKey, validationCompletePromise: EventLoopPromise<Void>) {
        let presented = "\(String(openSSHPublicKey: hostKey)) (\(hostKey.fingerprint))"
        let error: SFTPError?
        switch policy {
        case .acceptAny:
            logger.warning("sftp host key not verified", metadata: ["host": "\(endpoint)", "key": "\(hostKey.fingerprint)"])
            error = nil
        case .fixed(let expected):
            error = hostKey == expected ? nil : SFTPError(.hostKeyMismatch,
                "host key mismatch for \(endpoint): the server presented \(presented), but host-key is \(String(openSSHPublicKey: expected)) (\(expected.fingerprint)); if the server's key really changed, update host-key")
        case .knownHosts(let path):
            switch (knownHosts ?? SSHKnownHosts(text: "")).verdict(for: hostKey, host: host, port: port) {
            case .known:
                error = nil
            case .mismatch:
                error = SFTPError(.hostKeyMismatch,
                    "host key mismatch for \(endpoint): the server presented \(presented), which \(path) does not list for \(SSHKnownHosts.hostName(host, port: port)) (it lists another key); if the server's key really changed, update \(path) or set host-key")
            case .unknown:
                error = SFTPError(.hostKeyUnknown,
                    "unknown host key for \(endpoint): the server presented \(presented), and \(path) does not list \(SSHKnownHosts.hostName(host, port: port)); set host-key: \"\(String(openSSHPublicKey: hostKey))\" after checking it, add it to \(path), or set insecure-ignore-host-key: true")
            }
        }
        if let error {
            report.state.withLock { $0.hostKeyError = error }
            validationCompletePromise.fail(error)
        } else {
            validationCompletePromise.succeed()
        }
    }
}

/// Offers the configured credentials in turn: the private key first, then the password, each only when the server
/// accepts its method. When none is left, records ``SFTPError/Code/authenticationFailed``.
final class SSHUserAuthenticator: NIOSSHClientUserAuthenticationDelegate {
    private var offers: [NIOSSHUserAuthenticationOffer]
    private var tried: [String] = []
    private let endpoint: String
    private let keyPath: String?
    private let report: SSHHandshakeReport

    init(user: String, password: String?, key: NIOSSHPrivateKey?, keyPath: String?, endpoint: String, report: SSHHandshakeReport) {
        var offers: [NIOSSHUserAuthenticationOffer] = []
        if let key {
            offers.append(.init(username: user, serviceName: "", offer: .privateKey(.init(privateKey: key))))
        }
        if let password, !password.isEmpty {
            offers.append(.init(username: user, serviceName: "", offer: .password(.init(password: password))))
        }
        self.offers = offers
        self.endpoint = endpoint
        self.keyPath = keyPath
        self.report = report
    }

    func nextAuthenticationType(
        availableMethods: NIOSSHAvailableUserAuthenticationMethods,
        nextChallengePromise: EventLoopPromise<NIOSSHUserAuthenticationOffer?>
    ) {
        while !offers.isEmpty {
            let offer = offers.removeFirst()
            switch offer.offer {
            case .privateKey:
                guard availableMethods.contains(.publicKey) else { continue }
                tried.append("the key \(keyPath ?? "")")
            case .password:
                guard availableMethods.contains(.password) else { continue }
                tried.append("the password")
            default:
                continue
            }
            nextChallengePromise.succeed(offer)
            return
        }
        let what = tried.isEmpty ? "no credential it accepts was configured (it accepts: \(Self.names(availableMethods)))"
            : "it refused \(tried.joined(separator: " and "))"
        let error = SFTPError(.authenticationFailed, "authentication failed for \(endpoint): \(what)")
        report.state.withLock { $0.authenticationError = error }
        nextChallengePromise.fail(error)
    }

    private static func names(_ m: NIOSSHAvailableUserAuthenticationMethods) -> String {
        var out: [String] = []
        if m.contains(.publicKey) { out.append("publickey") }
        if m.contains(.password) { out.append("password") }
        if m.contains(.hostBased) { out.append("hostbased") }
        return out.isEmpty ? "none" : out.joined(separator: ", ")
    }
}

/// Fails the handshake's waiters when the connection errors before the SFTP session exists, and closes it.
final class SSHErrorHandler: ChannelInboundHandler {
    typealias InboundIn = Any

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
