import Crypto
import Foundation
public import NIOSSH

/// How the server's host key is checked.
public enum SSHHostKeyPolicy: Sendable, Equatable {
    /// Only this key (Litestream's `host-key`, an `authorized_keys`-style line such as `ssh-ed25519 AAAA…`).
    case fixed(NIOSSHPublicKey)
    /// The keys an OpenSSH `known_hosts` file lists for the host (plain or hashed names, `[host]:port` for another
    /// port than 22); a host it does not list is refused, as is a listed host presenting another key.
    case knownHosts(path: String)
    /// Any key (Litestream 0.5.17's behaviour when `host-key` is not set); only when the configuration asks.
    case acceptAny
}

/// The lines of an OpenSSH `known_hosts` file that matter here.
public struct SSHKnownHosts: Sendable {
    struct Entry: Sendable {
        var patterns: [String]
        var hashed: (salt: [UInt8], hash: [UInt8])?
        var key: NIOSSHPublicKey
        var revoked: Bool
    }

    var entries: [Entry] = []

    /// What the file says of a key presented by a host.
    public enum Verdict: Sendable, Equatable {
        /// The file lists this key for the host.
        case known
        /// The file lists the host with other keys (or revokes this one): the key changed, or someone is in between.
        case mismatch
        /// The file does not list the host.
        case unknown
    }

    /// Parses the text of a known-hosts file. Lines it cannot read (another key type, `@cert-authority`) are skipped.
    public init(text: String) {
        for raw in text.split(whereSeparator: \.isNewline) {
            var fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            var revoked = false
            if first.hasPrefix("@") {
                guard first == "@revoked" else { continue }  // @cert-authority: certificates are not used here
                revoked = true
                fields.removeFirst()
            }
            guard fields.count >= 3, let key = try? NIOSSHPublicKey(openSSHPublicKey: "\(fields[1]) \(fields[2])") else {
                continue
            }
            let hosts = fields[0]
            if hosts.hasPrefix("|1|") {
                let parts = hosts.split(separator: "|")
                guard parts.count == 3, let salt = Data(base64Encoded: String(parts[1])),
                    let hash = Data(base64Encoded: String(parts[2]))
                else { continue }
                entries.append(Entry(patterns: [], hashed: ([UInt8](salt), [UInt8](hash)), key: key, revoked: revoked))
            } else {
                entries.append(Entry(patterns: hosts.split(separator: ",").map(String.init), hashed: nil, key: key,
                    revoked: revoked))
            }
        }
    }

    /// Reads a known-hosts file; a missing file lists nothing.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            self.init(text: "")
            return
        }
        self.init(text: try String(contentsOfFile: path, encoding: .utf8))
    }

    /// The name OpenSSH records for a host: `host` on port 22, `[host]:port` otherwise.
    public static func hostName(_ host: String, port: Int) -> String {
        port == 22 ? host : "[\(host)]:\(port)"
    }

    /// Checks `key` presented by `host` on `port`.
    public func verdict(for key: NIOSSHPublicKey, host: String, port: Int) -> Verdict {
        let name = Self.hostName(host, port: port)
        let matching = entries.filter { matches($0, name) }
        // A revoked key is refused wherever else it is listed.
        if matching.contains(where: { $0.revoked && $0.key == key }) { return .mismatch }
        let listed = matching.filter { !$0.revoked }
        if listed.contains(where: { $0.key == key }) { return .known }
        return listed.isEmpty ? .unknown : .mismatch
    }

    private func matches(_ e: Entry, _ name: String) -> Bool {
        if let (salt, hash) = e.hashed {
            let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(name.utf8), using: SymmetricKey(data: salt))
            return Array(mac) == hash
        }
        var matched = false
        for pattern in e.patterns {
            if pattern.hasPrefix("!") {
                if Self.glob(String(pattern.dropFirst()).lowercased(), name.lowercased()) { return false }
            } else if Self.glob(pattern.lowercased(), name.lowercased()) {
                matched = true
            }
        }
        return matched
    }

    /// OpenSSH's host patterns: `*` any run of characters, `?` one character.
    static func glob(_ pattern: String, _ s: String) -> Bool {
        let p = Array(pattern), t = Array(s)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) {
                pi += 1
                ti += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

extension NIOSSHPublicKey {
    /// `SHA256:<base64>`, as `ssh-keygen -l` and OpenSSH's warnings print a key.
    public var fingerprint: String {
        let line = String(openSSHPublicKey: self)
        let blob = line.split(separator: " ").dropFirst().first.flatMap { Data(base64Encoded: String($0)) } ?? Data()
        var b64 = Data(SHA256.hash(data: blob)).base64EncodedString()
        while b64.hasSuffix("=") { b64.removeLast() }
        return "SHA256:" + b64
    }
}
