import Crypto
import Foundation

/// A NATS user nkey: an Ed25519 key pair whose seed is written as base32 text (`SU…`) with a type prefix and a
/// CRC-16 (the nkeys package's encoding). Signs the server's nonce when connecting with a JWT or an nkey.
///
/// Encoding (nkeys, `strkey.go`): base32 (RFC 4648 alphabet, no padding) of `prefix bytes ‖ payload ‖ crc16`,
/// where crc16 is CRC-16/XMODEM of what precedes it, little-endian. A seed has two prefix bytes: `18 << 3`
/// (`S`) with the top bits of the key type, then the rest of the type; a public key has one (`20 << 3`, `U`, for
/// a user).
struct NKey: Sendable {
    private let key: Curve25519.Signing.PrivateKey
    /// The public key, `U…` (what the server's configuration lists).
    let publicKey: String

    static let seedPrefix: UInt8 = 18 << 3  // 'S'
    static let userPrefix: UInt8 = 20 << 3  // 'U'

    /// Decodes a user seed (`SU…`); throws ``NATSError/Code/invalidCredentials`` without repeating the seed.
    init(seed text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let raw = Base32.decode(trimmed), raw.count == 2 + 32 + 2 else {
            throw NATSError(.invalidCredentials, "the nkey seed is not a valid seed (expected base32 text starting 'SU')")
        }
        let body = raw.prefix(raw.count - 2)
        let crc = UInt16(raw[raw.count - 2]) | UInt16(raw[raw.count - 1]) << 8
        guard CRC16.xmodem(body) == crc else {
            throw NATSError(.invalidCredentials, "the nkey seed's checksum does not match (a typo, or a truncated seed?)")
        }
        let b1 = raw[0] & 0b1111_1000
        let type = (raw[0] & 0b0000_0111) << 5 | (raw[1] & 0b1111_1000) >> 3
        guard b1 == Self.seedPrefix else {
            throw NATSError(.invalidCredentials, "the nkey is not a seed (a seed starts with 'S'; a public key cannot sign)")
        }
        guard type == Self.userPrefix else {
            throw NATSError(.invalidCredentials, "the nkey seed is not a user seed (expected 'SU…')")
        }
        do {
            key = try Curve25519.Signing.PrivateKey(rawRepresentation: Array(raw[2..<34]))
        } catch {
            throw NATSError(.invalidCredentials, "the nkey seed does not hold an Ed25519 key", cause: error)
        }
        publicKey = Self.encode(prefix: [Self.userPrefix], payload: Array(key.publicKey.rawRepresentation))
    }

    /// `prefix ‖ payload ‖ crc16(le)`, base32 without padding.
    static func encode(prefix: [UInt8], payload: [UInt8]) -> String {
        let body = prefix + payload
        let crc = CRC16.xmodem(body[...])
        return Base32.encode(body + [UInt8(crc & 0xFF), UInt8(crc >> 8)])
    }

    /// The Ed25519 signature of `nonce` (the server's `nonce` from INFO, as its UTF-8 bytes), base64url without
    /// padding, as nats.go sends it in CONNECT's `sig`.
    func sign(nonce: String) throws -> String {
        let signature = try key.signature(for: Data(nonce.utf8))
        return Base64URL.encode(Array(signature), padding: false)
    }
}

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0), as nkeys' `crc16`.
enum CRC16 {
    static func xmodem(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for b in bytes {
            crc ^= UInt16(b) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}

/// RFC 4648 base32 without padding (the nkeys text form).
enum Base32 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for b in bytes {
            buffer = buffer << 8 | UInt32(b)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int(buffer >> UInt32(bits - 5) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int(buffer << UInt32(5 - bits) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil on a character outside the alphabet.
    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "2")...UInt8(ascii: "7"): v = UInt32(c - UInt8(ascii: "2") + 26)
            case UInt8(ascii: "="): continue
            default: return nil
            }
            buffer = buffer << 5 | v
            bits += 5
            if bits >= 8 {
                out.append(UInt8(buffer >> UInt32(bits - 8) & 0xFF))
                bits -= 8
            }
        }
        return out
    }
}

/// Base64 with the URL alphabet (`-`, `_`), as Go's `base64.URLEncoding` (padded: object names, digests) and
/// `RawURLEncoding` (unpadded: nonce signatures).
enum Base64URL {
    static func encode(_ bytes: some Collection<UInt8>, padding: Bool) -> String {
        var s = Data(bytes).base64EncodedString()
        s = s.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        if !padding { while s.hasSuffix("=") { s.removeLast() } }
        return s
    }

    static func decode(_ text: String) -> [UInt8]? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s.append("=") }
        return Data(base64Encoded: s).map(Array.init)
    }
}

/// A NATS credentials file (`nsc` writes them): a user JWT and its nkey seed, each between dashed marker lines.
struct NATSCredentials: Sendable {
    let jwt: String
    let seed: String

    /// Reads the file; the error names the file, never its contents.
    init(path: String) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw NATSError(.invalidCredentials, "cannot read the NATS credentials file \(path)", cause: error)
        }
        try self.init(text: text, name: path)
    }

    /// The first two blocks between `---…---` marker lines are the JWT and the seed, as nats.go reads them.
    init(text: String, name: String) throws {
        var blocks: [String] = []
        var inside = false
        var current: [Substring] = []
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("---") && t.hasSuffix("---") && t.count > 6 {
                if inside {
                    blocks.append(current.joined().trimmingCharacters(in: .whitespaces))
                    current = []
                }
                inside.toggle()
            } else if inside, !t.isEmpty {
                current.append(Substring(t))
            }
        }
        guard blocks.count >= 2, !blocks[0].isEmpty, !blocks[1].isEmpty else {
            throw NATSError(.invalidCredentials, "the NATS credentials file \(name) holds no user JWT and seed (expected the blocks nsc writes)")
        }
        jwt = blocks[0]
        seed = blocks[1]
    }
}
