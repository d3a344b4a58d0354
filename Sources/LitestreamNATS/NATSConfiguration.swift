import Foundation
import LitestreamClient

/// Where a NATS replica is and how to log in, with Litestream 0.5.17's keys: the server (`url`,
/// `nats://[user:password@]host[:port]/bucket`), the object store `bucket`, the credentials (`jwt` and `seed`,
/// `creds`, `nkey`, `username` and `password`, `token`: the first of these that is set is used, in this order, as
/// Litestream does), TLS (`tls`, `root-cas`, `client-cert`, `client-key`) and `max-reconnects`, `reconnect-wait`,
/// `timeout`.
///
/// The bucket must exist: Litestream 0.5.17 does not create it ("bucket must be created beforehand", e.g.
/// `nats object add <bucket>`), and neither do we.
public struct NATSConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// The server's name or address. Default `127.0.0.1` (nats.go's default URL).
    public var host: String = "127.0.0.1"
    /// Default 4222.
    public var port: Int = 4222
    /// The object store bucket (the JetStream stream `OBJ_<bucket>`).
    public var bucket: String
    /// A prefix for object names (ours, for directory mode: `<path>/ltx/<level>/…`). Litestream 0.5.17 ignores a
    /// `path` for NATS and always writes `ltx/<level>/…`; leave it empty for a replica both tools use.
    public var path: String = ""
    /// `jwt` and `seed`: a user JWT and its nkey seed (`SU…`), given directly.
    public var jwt: String?
    public var seed: String?
    /// `creds`: a credentials file holding a user JWT and its seed (as `nsc` writes them).
    public var creds: String?
    /// `nkey`: a user nkey seed (`SU…`). Litestream 0.5.17 takes a public key here and cannot sign with it; a seed
    /// works here.
    public var nkey: String?
    public var username: String?
    public var password: String?
    public var token: String?
    /// `tls`: require TLS. TLS is also used when the server requires it, or when `root-cas` or a client
    /// certificate is given (as nats.go does).
    public var tls = false
    /// `root-cas`: PEM files of the certificate authorities to trust instead of the system's.
    public var rootCAs: [String] = []
    /// `client-cert`, `client-key`: a PEM certificate and key for mutual TLS (both or neither).
    public var clientCert: String?
    public var clientKey: String?
    /// `max-reconnects`: how many times a failed request is tried again on a new connection before the failure
    /// is handed to the replicator (which backs off and retries the upload itself). Negative: the default, 3.
    public var maxReconnects: Int = -1
    /// `reconnect-wait`: the wait before connecting again after a failure. Default 2 s.
    public var reconnectWait: Duration = .seconds(2)
    /// `timeout`: connecting, and each request. Default 10 s.
    public var timeout: Duration = .seconds(10)

    public init(bucket: String, host: String = "127.0.0.1", port: Int = 4222) {
        self.bucket = bucket
        self.host = host
        self.port = port
    }

    /// `nats://host:port`, for messages.
    public var endpoint: String { "nats://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// `nats://host:port/bucket`: no credentials.
    public var description: String { "\(endpoint)/\(bucket)\(path.isEmpty ? "" : "/" + path)" }

    /// Whether TLS is used from the start (the server may still require it when this is false).
    public var wantsTLS: Bool { tls || !rootCAs.isEmpty || clientCert != nil }

    /// A parsing or validation failure, naming what to fix.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Splits `host`, `host:port` or `[v6]:port` (port 4222 by default).
    static func splitHostPort(_ value: String) throws(Invalid) -> (host: String, port: Int) {
        if value.hasPrefix("["), let close = value.firstIndex(of: "]") {
            let host = String(value[value.index(after: value.startIndex)..<close])
            let rest = value[value.index(after: close)...]
            guard !rest.isEmpty else { return (host, 4222) }
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else {
                throw Invalid(description: "invalid nats host '\(value)': expected host or host:port")
            }
            return (host, port)
        }
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2 {
            guard let port = Int(parts[1]), (1...65535).contains(port) else {
                throw Invalid(description: "invalid nats host '\(value)': the port must be a number from 1 to 65535")
            }
            return (parts[0].isEmpty ? "127.0.0.1" : String(parts[0]), port)
        }
        return (value.isEmpty ? "127.0.0.1" : value, 4222)
    }

    /// Reads `nats://[user[:password]@]host[:port]/bucket`, as Litestream 0.5.17 does for the command line and a
    /// replica `url`: the path (slashes trimmed) is the bucket, the user info the credentials (a user without a
    /// password is a token, as nats.go reads `nats://token@host`). A query is ignored.
    public static func parse(url: String) throws(Invalid) -> NATSConfiguration {
        guard let schemeEnd = url.range(of: "://"), url[..<schemeEnd.lowerBound].lowercased() == "nats" else {
            throw Invalid(description: "not a nats:// URL: \(Redaction.url(url))")
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        if let q = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<q] }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let rawPath = String(rest[authorityEnd...])
        let bucket = (rawPath.removingPercentEncoding ?? rawPath).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        var hostPort = Substring(authority)
        var user: String?, password: String?
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
        guard !bucket.isEmpty else {
            throw Invalid(description: "bucket required for nats replica URL \(Redaction.url(url)) (nats://HOST:PORT/BUCKET)")
        }
        let (host, port) = try splitHostPort(String(hostPort))
        var c = NATSConfiguration(bucket: bucket, host: host, port: port)
        if let user, !user.isEmpty {
            if let password { (c.username, c.password) = (user, password) } else { c.token = user }
        }
        return c
    }

    /// Checks what can be checked without connecting: a valid bucket name, a client certificate with its key, a
    /// JWT with its seed.
    public func validate() throws(Invalid) {
        guard !bucket.isEmpty else { throw Invalid(description: "bucket required for NATS replica") }
        // nats.go's validBucketRe: letters, digits, '-' and '_'.
        let allowed = { (c: Unicode.Scalar) in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "-" || c == "_"
        }
        guard bucket.unicodeScalars.allSatisfy(allowed) else {
            throw Invalid(description: "invalid NATS bucket name '\(bucket)': only letters, digits, '-' and '_' are allowed")
        }
        guard !host.isEmpty else { throw Invalid(description: "host required for NATS replica") }
        if (clientCert != nil) != (clientKey != nil) {
            throw Invalid(description: "client-cert and client-key must both be specified for mutual TLS authentication")
        }
        if (jwt?.isEmpty == false) != (seed?.isEmpty == false) {
            throw Invalid(description: "jwt and seed must both be specified for NATS JWT authentication")
        }
    }

    /// The credential that will be offered, in Litestream's order of precedence.
    enum Credential: Equatable {
        case none
        case jwtAndSeed(jwt: String, seed: String)
        case credsFile(String)
        case nkeySeed(String)
        case userPassword(String, String)
        case token(String)
    }

    var credential: Credential {
        if let jwt, let seed, !jwt.isEmpty, !seed.isEmpty { return .jwtAndSeed(jwt: jwt, seed: seed) }
        if let creds, !creds.isEmpty { return .credsFile(creds) }
        if let nkey, !nkey.isEmpty { return .nkeySeed(nkey) }
        if let username, let password, !username.isEmpty, !password.isEmpty { return .userPassword(username, password) }
        if let token, !token.isEmpty { return .token(token) }
        return .none
    }

    /// What kind of credential is offered, for messages: never the credential itself.
    var credentialKind: String {
        switch credential {
        case .none: "no credentials"
        case .jwtAndSeed: "the jwt and seed"
        case .credsFile(let path): "the credentials file \(path)"
        case .nkeySeed: "the nkey"
        case .userPassword(let user, _): "user \(user) and its password"
        case .token: "the token"
        }
    }

    /// The object name of an LTX file: `[<path>/]ltx/<level>/<min>-<max>.ltx`, as Litestream's `LTXFilePath`.
    func levelPrefix(_ level: Int) -> String {
        let root = path.split(separator: "/").joined(separator: "/")
        return (root.isEmpty ? "" : root + "/") + "ltx/\(level)/"
    }
}

extension NATSConfiguration: CustomDebugStringConvertible, CustomReflectable {
    /// The server, bucket and kind of credential; never a secret.
    public var debugDescription: String { "NATSConfiguration(\(description), \(credentialKind))" }
    public var customMirror: Mirror { Mirror(self, children: ["description": debugDescription]) }
}
