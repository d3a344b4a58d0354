import Foundation
import LitestreamClient
import NIOSSH

/// Where an SFTP replica is and how to log in, with Litestream 0.5.17's keys: `host` (`host:port`, port 22 by
/// default), `user`, `password`, `key-path`, `host-key`, and `path` (the replica's directory on the server:
/// absolute, or relative to the user's login directory).
///
/// Host keys differ from Litestream 0.5.17 on purpose: Litestream accepts any host key when `host-key` is not
/// set (it logs "sftp host key not verified"); here the key must then be in the known-hosts file
/// (``knownHostsPath``, `~/.ssh/known_hosts` by default), and an unknown or changed key is refused with an
/// error that prints the key the server presented. ``insecureIgnoreHostKey`` restores Litestream's behaviour.
public struct SFTPConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// The server's name or address (no port).
    public var host: String
    /// Default 22.
    public var port: Int = 22
    public var user: String
    /// `password`: offered when the server accepts password authentication. Never printed.
    public var password: String?
    /// `key-path`: a private key file (OpenSSH format; see ``SSHPrivateKeyFile`` for the key types).
    public var keyPath: String?
    /// `host-key`: the server's public key, as in `authorized_keys` (`ssh-ed25519 AAAA…`).
    public var hostKey: String?
    /// `known-hosts-path` (ours): the known-hosts file consulted when ``hostKey`` is not set. Default
    /// `$HOME/.ssh/known_hosts`.
    public var knownHostsPath: String?
    /// `insecure-ignore-host-key` (ours): accept any host key when ``hostKey`` is not set, as Litestream 0.5.17
    /// does. Default false.
    public var insecureIgnoreHostKey = false
    /// The replica's directory on the server; files go to `<path>/ltx/<level>/`.
    public var path: String
    /// `concurrent-writes`: accepted for compatibility (Litestream's pkg/sftp option). Writes of one file are
    /// always pipelined here, in order.
    public var concurrentWrites: Bool?
    /// How long connecting and the SSH handshake may take. Default 30 s (Litestream's dial timeout).
    public var connectTimeout: Duration = .seconds(30)

    public init(host: String, port: Int = 22, user: String, password: String? = nil, keyPath: String? = nil, path: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keyPath = keyPath
        self.path = path
    }

    /// `user@host:port`, for messages.
    public var endpoint: String { "\(user)@\(SFTPConfiguration.bracketed(host)):\(port)" }

    /// `sftp://user@host:port/path`: no password.
    public var description: String {
        "sftp://\(endpoint)\(path.hasPrefix("/") ? "" : "/~/")\(path)"
    }

    static func bracketed(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }

    /// A parsing or validation failure, naming what to fix.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Splits Litestream's `host` value (`name`, `name:port`, `[v6]:port`) into host and port.
    public static func splitHostPort(_ value: String) throws(Invalid) -> (host: String, port: Int) {
        if value.hasPrefix("["), let close = value.firstIndex(of: "]") {
            let host = String(value[value.index(after: value.startIndex)..<close])
            let rest = value[value.index(after: close)...]
            guard !rest.isEmpty else { return (host, 22) }
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else {
                throw Invalid(description: "invalid sftp host '\(value)': expected host or host:port")
            }
            return (host, port)
        }
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2 {
            guard let port = Int(parts[1]), (1...65535).contains(port) else {
                throw Invalid(description: "invalid sftp host '\(value)': the port must be a number from 1 to 65535")
            }
            return (String(parts[0]), port)
        }
        return (value, 22)
    }

    /// Reads `sftp://[user[:password]@]host[:port]/path`, as Litestream 0.5.17 does for a replica `url` and for the
    /// command line (the path keeps its leading `/`: `sftp://u@h/backups/db` is `/backups/db` on the server).
    ///
    /// Query options (ours; Litestream's sftp URL has none): `key-path`, `host-key`, `known-hosts-path`,
    /// `insecure-ignore-host-key=true`.
    /// - Parameter requireUser: false when the user comes from elsewhere (a configuration's `user` key).
    public static func parse(url: String, requireUser: Bool = true) throws(Invalid) -> SFTPConfiguration {
        guard let schemeEnd = url.range(of: "://"), url[..<schemeEnd.lowerBound].lowercased() == "sftp" else {
            throw Invalid(description: "not an sftp:// URL: \(Redaction.url(url))")
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        var query = ""
        if let q = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        if let f = rest.firstIndex(of: "#") { rest = rest[..<f] }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let path = String(rest[authorityEnd...]).removingPercentEncoding ?? String(rest[authorityEnd...])
        var user = "", password: String?
        var hostPort = Substring(authority)
        if let at = authority.lastIndex(of: "@") {
            let info = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            if let colon = info.firstIndex(of: ":") {
                user = String(info[..<colon]).removingPercentEncoding ?? String(info[..<colon])
                let p = String(info[info.index(after: colon)...])
                password = p.removingPercentEncoding ?? p
            } else {
                user = String(info).removingPercentEncoding ?? String(info)
            }
        }
        guard !hostPort.isEmpty else {
            throw Invalid(description: "host required for sftp replica URL \(Redaction.url(url))")
        }
        guard !user.isEmpty || !requireUser else {
            throw Invalid(description: "user required for sftp replica URL \(Redaction.url(url)) (sftp://USER@HOST/PATH)")
        }
        let (host, port) = try splitHostPort(String(hostPort))
        var c = SFTPConfiguration(host: host, port: port, user: user, password: password, path: path)
        for item in query.split(separator: "&") where !item.isEmpty {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(kv[0])
            let value = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
            switch name {
            case "key-path": c.keyPath = value
            case "host-key": c.hostKey = value
            case "known-hosts-path": c.knownHostsPath = value
            case "insecure-ignore-host-key": c.insecureIgnoreHostKey = value.isEmpty || value == "true" || value == "1"
            default:
                throw Invalid(description: "unknown sftp URL option '\(name)' (known: key-path, host-key, known-hosts-path, insecure-ignore-host-key)")
            }
        }
        return c
    }

    /// Checks what can be checked without connecting: a host, a user, a credential, a readable `host-key`.
    public func validate() throws(Invalid) {
        guard !host.isEmpty else { throw Invalid(description: "host required for sftp replica") }
        guard !user.isEmpty else { throw Invalid(description: "user required for sftp replica") }
        guard password?.isEmpty == false || keyPath?.isEmpty == false else {
            throw Invalid(description: "sftp replica \(endpoint) needs a 'password' or a 'key-path'")
        }
        if hostKey != nil { _ = try hostKeyPolicy(environment: [:]) }
    }

    /// The host-key check this configuration asks for.
    public func hostKeyPolicy(environment: [String: String]) throws(Invalid) -> SSHHostKeyPolicy {
        if let hostKey, !hostKey.isEmpty {
            // authorized_keys style: "type base64 [comment]", options before it are not expected here.
            let fields = hostKey.split(whereSeparator: \.isWhitespace)
            guard fields.count >= 2, let key = try? NIOSSHPublicKey(openSSHPublicKey: "\(fields[0]) \(fields[1])") else {
                throw Invalid(description: "cannot parse sftp host-key for \(endpoint): expected a public key such as 'ssh-ed25519 AAAA…' (Ed25519 and ECDSA keys)")
            }
            return .fixed(key)
        }
        if insecureIgnoreHostKey { return .acceptAny }
        if let knownHostsPath, !knownHostsPath.isEmpty { return .knownHosts(path: knownHostsPath) }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return .knownHosts(path: "\(home)/.ssh/known_hosts")
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.host == b.host && a.port == b.port && a.user == b.user && a.password == b.password && a.keyPath == b.keyPath
            && a.hostKey == b.hostKey && a.knownHostsPath == b.knownHostsPath
            && a.insecureIgnoreHostKey == b.insecureIgnoreHostKey && a.path == b.path
            && a.concurrentWrites == b.concurrentWrites && a.connectTimeout == b.connectTimeout
    }
}
