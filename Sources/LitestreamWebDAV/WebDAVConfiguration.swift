public import AsyncHTTPClient
import Foundation

/// Where and how a WebDAV replica is stored, with Litestream 0.5.17's settings: `webdav-url`, `webdav-username`,
/// `webdav-password` and `path`, or one `webdav://` (HTTP) or `webdavs://` (HTTPS) URL,
/// `webdav[s]://[user[:password]@]host[:port]/path`.
///
/// Files are `<url>/<path>/ltx/<level>/<min>-<max>.ltx`, the level in decimal, as Litestream's `webdav` replica
/// lays them out. Authentication is HTTP basic, sent with every request when a user name is set.
public struct WebDAVConfiguration: Sendable {
    /// The server, `http(s)://host[:port][/prefix]` (Litestream's `webdav-url`); the replica's `path` is under
    /// its prefix. User info in it is used when ``username`` is not set.
    public var url: String
    /// The replica's directory under ``url``: `backups/db`. Empty: the files go to `<url>/ltx/…`.
    public var path: String
    /// The basic-auth user; nil: no `Authorization` header.
    public var username: String?
    /// The basic-auth password. Never logged, never in an error.
    public var password: String?
    /// How many times a request is tried in all before a transient failure (no answer, a 5xx, 408, 423, 429)
    /// is reported. Default 10.
    public var maxAttempts = 10
    /// The most one request may take, body included. Default 10 minutes (a snapshot of several GiB on a slow
    /// link); a server that stops answering is noticed sooner by the connection's failure.
    public var requestTimeout: Duration = .seconds(600)
    /// The HTTP client. Default: the process-wide client the S3 replica uses too, never shut down.
    public var httpClient: HTTPClient?

    public init(url: String, path: String = "", username: String? = nil, password: String? = nil) {
        self.url = url
        self.path = path
        self.username = username
        self.password = password
    }

    /// A configuration that cannot work; the description names what to fix, never a password.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Reads a `webdav://` or `webdavs://` replica URL as Litestream does: the server is `http://host[:port]` (or
    /// `https://`), the URL's path is the replica's path and its user info the credentials (percent-decoded).
    /// A query is ignored.
    public static func parse(url: String) throws -> WebDAVConfiguration {
        let parts = try URLParts(url)
        guard parts.scheme == "webdav" || parts.scheme == "webdavs" else {
            throw Invalid(description: "not a webdav:// or webdavs:// URL: \(URLParts.redacted(url))")
        }
        guard !parts.authority.isEmpty else {
            throw Invalid(description: "host required for webdav replica URL \(URLParts.redacted(url))")
        }
        var c = WebDAVConfiguration(
            url: "\(parts.scheme == "webdavs" ? "https" : "http")://\(parts.authority)",
            path: WebDAVPath.normalize(parts.path).joined(separator: "/"))
        c.username = parts.user
        c.password = parts.password
        return c
    }

    /// The server's address and the replica's place on it, checked.
    func endpoint() throws -> WebDAVEndpoint {
        let parts: URLParts
        do {
            parts = try URLParts(url)
        } catch {
            throw Invalid(description: "invalid webdav-url \(URLParts.redacted(url)): \(error)")
        }
        guard parts.scheme == "http" || parts.scheme == "https" else {
            throw Invalid(description: "webdav-url \(URLParts.redacted(url)) must start with http:// or https://")
        }
        guard !parts.authority.isEmpty else {
            throw Invalid(description: "webdav-url \(URLParts.redacted(url)) has no host")
        }
        let user = username ?? parts.user
        let password = username == nil && self.password == nil ? parts.password : self.password
        return WebDAVEndpoint(
            scheme: parts.scheme, authority: parts.authority, base: WebDAVPath.normalize(parts.path),
            path: WebDAVPath.normalize(path),
            authorization: user.map { .init(value: Self.basicAuthorization(user: $0, password: password ?? "")) })
    }

    /// `Basic base64(user:password)`.
    static func basicAuthorization(user: String, password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }
}

/// The pieces of `scheme://[user[:password]@]host[:port][/path][?query][#fragment]`, the user info and path
/// percent-decoded. Written out rather than `URLComponents`, which rejects some passwords Go's `url.Parse` takes.
struct URLParts {
    var scheme: String
    var user: String?
    var password: String?
    /// `host[:port]` as written (`[::1]:8080` keeps its brackets).
    var authority: String
    var path: String

    struct Malformed: Error, CustomStringConvertible { var description: String }

    init(_ s: String) throws {
        guard let r = s.range(of: "://") else { throw Malformed(description: "no scheme") }
        scheme = s[..<r.lowerBound].lowercased()
        let rest = s[r.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            let info = authority[..<at]
            let pair = info.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            user = Self.decode(pair[0])
            password = pair.count == 2 ? Self.decode(pair[1]) : nil
            authority = authority[authority.index(after: at)...]
        }
        self.authority = String(authority)
        let tail = rest[authorityEnd...]
        let pathEnd = tail.firstIndex { $0 == "?" || $0 == "#" } ?? tail.endIndex
        path = Self.decode(tail[..<pathEnd])
    }

    private static func decode(_ s: Substring) -> String { String(s).removingPercentEncoding ?? String(s) }

    /// `s` without the password of its user info, for messages.
    static func redacted(_ s: String) -> String {
        guard let r = s.range(of: "://") else { return s }
        let rest = s[r.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return s }
        let user = rest[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return String(s[..<r.upperBound]) + user + ":<redacted>@" + rest[rest.index(after: at)...]
    }
}

extension WebDAVConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The server, path and user; never the password.
    public var description: String {
        "WebDAVConfiguration(url: \(URLParts.redacted(url)), path: \(path), username: \(username ?? "nil"), "
            + "password: \(password == nil ? "nil" : "<redacted>"))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
