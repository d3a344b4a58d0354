/// A WebDAV replica's place: the server, the root path of `webdav-url`, and the replica's path under it.
struct WebDAVEndpoint: Sendable {
    /// `http` or `https`.
    var scheme: String
    /// `host[:port]`.
    var authority: String
    /// The segments of `webdav-url`'s path (the server's root for this replica).
    var base: [String]
    /// The segments of the replica's path under `base`.
    var path: [String]
    /// The `Authorization` header's value; nil without a user.
    var authorization: Credential?

    /// A header value that carries a password: printed, dumped or mirrored as `<redacted>`.
    struct Credential: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        let value: String
        var description: String { "<redacted>" }
        var debugDescription: String { "<redacted>" }
        var customMirror: Mirror { Mirror(self, children: [:]) }
    }

    /// The absolute URL of `segments` under the server's root (a collection ends with `/`). No credentials.
    func url(_ segments: [String], collection: Bool = false) -> String {
        "\(scheme)://\(authority)\(WebDAVPath.encode(base + segments, collection: collection))"
    }

    /// The replica's directory for one level: `<path>/ltx/<level>`, the level in decimal.
    func levelDirectory(_ level: Int) -> [String] { path + ["ltx", String(level)] }

    /// `webdav://host/base/path` (`webdavs://` for HTTPS): where the replica is, for logs.
    var location: String {
        let all = base + path
        return "\(scheme == "https" ? "webdavs" : "webdav")://\(authority)/" + all.joined(separator: "/")
    }
}
