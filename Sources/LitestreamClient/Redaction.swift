import Foundation

/// Hiding credentials when the configuration is printed, and in error messages.
package enum Redaction {
    package static let mask = "<redacted>"

    /// Query parameters whose values are credentials.
    private static let secretQueryWords = ["key", "secret", "token", "password", "passwd", "signature", "credential", "auth", "sas", "sig"]

    /// `scheme://user:pass@host/path?token=x` → `scheme://user:<redacted>@host/path?token=<redacted>`: the
    /// password of the user-info part and the values of credential-like query parameters.
    package static func url(_ s: String) -> String {
        var out = s
        if let schemeEnd = out.range(of: "://") {
            let authorityEnd = out[schemeEnd.upperBound...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? out.endIndex
            let authority = out[schemeEnd.upperBound..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                let userInfo = authority[..<at]
                let user = userInfo.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
                let replaced = userInfo.contains(":") ? "\(user):\(mask)" : mask
                out.replaceSubrange(schemeEnd.upperBound..<at, with: replaced)
            }
        }
        guard let q = out.firstIndex(of: "?") else { return out }
        let query = out[out.index(after: q)...]
        let items = query.split(separator: "&", omittingEmptySubsequences: false).map { item -> String in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = parts[0].lowercased()
            if parts.count == 2, secretQueryWords.contains(where: { name.contains($0) }) { return "\(parts[0])=\(mask)" }
            return String(item)
        }
        return String(out[...q]) + items.joined(separator: "&")
    }

    /// A heartbeat URL: services like healthchecks.io put the secret in the path, so only the scheme and host stay
    /// (`https://hc-ping.com/<redacted>`).
    package static func heartbeatURL(_ s: String) -> String {
        guard let schemeEnd = s.range(of: "://") else { return mask }
        let rest = s[schemeEnd.upperBound...]
        let hostEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var host = String(rest[..<hostEnd])
        if let at = host.lastIndex(of: "@") { host = mask + "@" + host[host.index(after: at)...] }
        let tail = rest[hostEnd...]
        let path = tail.isEmpty || tail == "/" ? String(tail) : "/" + mask
        return String(s[..<schemeEnd.upperBound]) + host + path
    }

    /// An access key id is an identifier, not a secret, but it helps an attacker: keep the first 4 characters
    /// (`AKIA…` tells which kind of key it is).
    package static func accessKeyID(_ s: String) -> String {
        s.count > 8 ? String(s.prefix(4)) + "****" : "****"
    }
}
