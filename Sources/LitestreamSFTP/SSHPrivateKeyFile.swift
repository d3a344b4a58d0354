import Crypto
import Foundation
public import NIOSSH

/// Reads a private key file for SSH user authentication.
///
/// Supported: OpenSSH's own format (`-----BEGIN OPENSSH PRIVATE KEY-----`, what `ssh-keygen` writes) holding an
/// unencrypted Ed25519 or ECDSA (nistp256, nistp384, nistp521) key, and PEM ECDSA keys (`BEGIN EC PRIVATE KEY`,
/// PKCS#8 `BEGIN PRIVATE KEY`). Not supported, each with its own error: RSA and DSA keys (swift-nio-ssh signs with
/// Ed25519 and ECDSA only) and passphrase-protected keys (remove the passphrase with `ssh-keygen -p`, or use a
/// password).
public enum SSHPrivateKeyFile {
    /// Parses the text of a key file; `path` only names it in errors.
    public static func parse(_ text: String, path: String) throws(SFTPError) -> NIOSSHPrivateKey {
        func invalid(_ why: String) -> SFTPError {
            SFTPError(.invalidKey, "cannot use the private key \(path): \(why)")
        }
        if text.contains("BEGIN OPENSSH PRIVATE KEY") {
            guard let blob = pemBody(text, label: "OPENSSH PRIVATE KEY") else { throw invalid("its base64 body is damaged") }
            return try parseOpenSSH(blob, invalid: invalid)
        }
        if text.contains("BEGIN RSA PRIVATE KEY") || text.contains("BEGIN DSA PRIVATE KEY") {
            throw invalid("RSA and DSA keys are not supported; use an Ed25519 or ECDSA key (ssh-keygen -t ed25519)")
        }
        if text.contains("ENCRYPTED") {
            throw invalid("passphrase-protected keys are not supported; remove the passphrase (ssh-keygen -p) or use a password")
        }
        if text.contains("BEGIN EC PRIVATE KEY") || text.contains("BEGIN PRIVATE KEY") {
            if let k = try? P256.Signing.PrivateKey(pemRepresentation: text) { return NIOSSHPrivateKey(p256Key: k) }
            if let k = try? P384.Signing.PrivateKey(pemRepresentation: text) { return NIOSSHPrivateKey(p384Key: k) }
            if let k = try? P521.Signing.PrivateKey(pemRepresentation: text) { return NIOSSHPrivateKey(p521Key: k) }
            throw invalid("a PEM key that is not ECDSA P-256, P-384 or P-521 (RSA keys are not supported)")
        }
        throw invalid("not an OpenSSH or PEM private key")
    }

    /// Reads and parses the key file at `path`.
    public static func load(path: String) throws(SFTPError) -> NIOSSHPrivateKey {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SFTPError(.invalidKey, "cannot read the private key \(path)", cause: error)
        }
        return try parse(text, path: path)
    }

    static func pemBody(_ text: String, label: String) -> [UInt8]? {
        guard let begin = text.range(of: "-----BEGIN \(label)-----"),
            let end = text.range(of: "-----END \(label)-----", range: begin.upperBound..<text.endIndex)
        else { return nil }
        let base64 = text[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        return Data(base64Encoded: String(base64)).map { [UInt8]($0) }
    }

    /// `openssh-key-v1`: magic, cipher, kdf, kdf options, key count, public keys, then the private section (two
    /// equal check words, then per key its type and fields, a comment, and padding).
    static func parseOpenSSH(_ blob: [UInt8], invalid: (String) -> SFTPError) throws(SFTPError) -> NIOSSHPrivateKey {
        var r = SSHWireReader(blob)
        let magic = Array("openssh-key-v1".utf8) + [0]
        guard blob.starts(with: magic) else { throw invalid("not an openssh-key-v1 key") }
        r.offset = magic.count
        guard let cipher = r.string(), let kdf = r.string(), r.bytes() != nil, let count = r.uint32() else {
            throw invalid("the key file is truncated")
        }
        guard String(decoding: cipher, as: UTF8.self) == "none", String(decoding: kdf, as: UTF8.self) == "none" else {
            throw invalid("passphrase-protected keys are not supported; remove the passphrase (ssh-keygen -p) or use a password")
        }
        guard count == 1 else { throw invalid("the file holds \(count) keys; exactly one is supported") }
        guard r.bytes() != nil, let privateSection = r.bytes() else { throw invalid("the key file is truncated") }
        var p = SSHWireReader(privateSection)
        guard let check1 = p.uint32(), let check2 = p.uint32(), check1 == check2 else {
            throw invalid("its check words differ (a damaged or encrypted key)")
        }
        guard let typeBytes = p.string() else { throw invalid("the key file is truncated") }
        let type = String(decoding: typeBytes, as: UTF8.self)
        switch type {
        case "ssh-ed25519":
            guard p.bytes() != nil, let secret = p.bytes(), secret.count == 64 else {
                throw invalid("a malformed Ed25519 key")
            }
            // The 64 bytes are the 32-byte seed followed by the public key.
            guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: secret[0..<32]) else {
                throw invalid("a malformed Ed25519 key")
            }
            return NIOSSHPrivateKey(ed25519Key: key)
        case "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
            guard p.string() != nil, p.bytes() != nil, let scalar = p.bytes() else { throw invalid("a malformed ECDSA key") }
            let width = type.hasSuffix("256") ? 32 : type.hasSuffix("384") ? 48 : 66
            // An mpint: big-endian, with a leading zero when the top bit is set, and no leading zeros otherwise.
            var d = Array(scalar.drop { $0 == 0 })
            guard d.count <= width else { throw invalid("a malformed ECDSA key") }
            d = [UInt8](repeating: 0, count: width - d.count) + d
            do {
                switch width {
                case 32: return NIOSSHPrivateKey(p256Key: try P256.Signing.PrivateKey(rawRepresentation: d))
                case 48: return NIOSSHPrivateKey(p384Key: try P384.Signing.PrivateKey(rawRepresentation: d))
                default: return NIOSSHPrivateKey(p521Key: try P521.Signing.PrivateKey(rawRepresentation: d))
                }
            } catch {
                throw invalid("a malformed ECDSA key")
            }
        case "ssh-rsa", "ssh-dss":
            throw invalid("RSA and DSA keys are not supported; use an Ed25519 or ECDSA key (ssh-keygen -t ed25519)")
        default:
            throw invalid("key type \(type) is not supported (supported: ssh-ed25519, ecdsa-sha2-nistp256/384/521)")
        }
    }
}

/// Reads SSH wire fields (`uint32`, `string`) from bytes.
struct SSHWireReader {
    let data: [UInt8]
    var offset = 0

    init(_ data: [UInt8]) { self.data = data }

    mutating func uint32() -> UInt32? {
        guard offset + 4 <= data.count else { return nil }
        defer { offset += 4 }
        return data[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func bytes() -> [UInt8]? {
        guard let n = uint32(), offset + Int(n) <= data.count else { return nil }
        defer { offset += Int(n) }
        return Array(data[offset..<offset + Int(n)])
    }

    mutating func string() -> [UInt8]? { bytes() }
}
