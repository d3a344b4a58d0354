import Foundation
import _CryptoExtras

/// The signed assertion a service account exchanges for an access token (RFC 7523), byte for byte as Google's
/// Python library (`google.oauth2.service_account.Credentials`) makes it, so that the golden tests can compare
/// them: header `{"typ": "JWT", "alg": "RS256", "kid": …}`, claims `iat`, `exp` (one hour later), `iss`, `aud`,
/// `scope` in that order, both serialized as Python's `json.dumps` does (`", "` and `": "` separators, non-ASCII
/// escaped), base64url without padding, signed RS256 (RSASSA-PKCS1-v1_5 with SHA-256, deterministic).
enum GCSJWT {
    /// The audience google-auth puts in every assertion, whatever the key file's `token_uri`.
    static let audience = "https://oauth2.googleapis.com/token"
    /// Read and write objects, nothing else (no bucket or IAM administration).
    static let scope = "https://www.googleapis.com/auth/devstorage.read_write"
    /// The assertion's lifetime, as google-auth's.
    static let lifetime: Int64 = 3600

    /// The header's JSON text.
    static func header(keyID: String?) -> String {
        var fields: [(String, String)] = [("typ", "JWT"), ("alg", "RS256")]
        if let keyID { fields.append(("kid", keyID)) }
        return "{" + fields.map { "\(quote($0.0)): \(quote($0.1))" }.joined(separator: ", ") + "}"
    }

    /// The claims' JSON text for an assertion issued at `issuedAt` (Unix seconds).
    static func claims(email: String, scope: String = scope, issuedAt: Int64) -> String {
        "{\"iat\": \(issuedAt), \"exp\": \(issuedAt + lifetime), \"iss\": \(quote(email)), "
            + "\"aud\": \(quote(audience)), \"scope\": \(quote(scope))}"
    }

    /// `base64url(header).base64url(claims).base64url(signature)`.
    static func assertion(for account: GCSServiceAccount, issuedAt: Int64, scope: String = scope) throws -> String {
        let input = base64URL(Data(header(keyID: account.keyID).utf8)) + "."
            + base64URL(Data(claims(email: account.email, scope: scope, issuedAt: issuedAt).utf8))
        let signature = try account.signingKey.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)
        return input + "." + base64URL(signature.rawRepresentation)
    }

    /// The token request's form body, as google-auth's `jwt_grant` encodes it (`urllib.parse.urlencode`).
    static func tokenRequestBody(assertion: String) -> String {
        "assertion=\(formEncode(assertion))&grant_type=\(formEncode("urn:ietf:params:oauth:grant-type:jwt-bearer"))"
    }

    static func base64URL(_ data: Data) -> String {
        var s = data.base64EncodedString()
        s = s.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }

    /// A JSON string as Python's `json.dumps` writes it (`ensure_ascii`): `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`,
    /// other control characters and everything past ASCII as `\uXXXX` (UTF-16 units).
    static func quote(_ s: String) -> String {
        var out = "\""
        for unit in s.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            default:
                let hex = String(unit, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return out + "\""
    }

    /// `application/x-www-form-urlencoded` as Python's `quote_plus`: letters, digits and `_.-~` as they are, a
    /// space as `+`, every other byte as `%XX`.
    static func formEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: " "): out += "+"
            default: out += "%" + String(format: "%02X", b)
            }
        }
        return out
    }
}
