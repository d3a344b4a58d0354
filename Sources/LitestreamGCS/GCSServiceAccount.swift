import Foundation
import _CryptoExtras

/// A service account key file (`GOOGLE_APPLICATION_CREDENTIALS`), as the Cloud Console downloads it: the account's
/// e-mail, its RSA private key (PKCS #8 PEM), the key's id and the token endpoint. Printed, dumped or mirrored, it
/// shows the e-mail and key id only.
struct GCSServiceAccount: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `client_email`: the JWT's issuer.
    let email: String
    /// `private_key_id`: the JWT header's `kid`; nil when the file has none.
    let keyID: String?
    /// `token_uri`: where the signed assertion is exchanged for an access token.
    let tokenURI: String
    /// The parsed `private_key`.
    let signingKey: _RSA.Signing.PrivateKey

    /// Google's token endpoint, used when the file names none.
    static let defaultTokenURI = "https://oauth2.googleapis.com/token"

    /// Reads and checks the key file at `path`.
    ///
    /// - Throws: ``GCSError`` `.credentials` naming the file and what is wrong with it (never its contents).
    init(contentsOf path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw GCSError(.credentials,
                "cannot read the credentials file \(path) (GOOGLE_APPLICATION_CREDENTIALS): \(error.localizedDescription)")
        }
        try self.init(json: data, source: path)
    }

    /// Parses a key file's JSON; `source` names it in errors.
    init(json data: Data, source: String) throws {
        func fail(_ what: String) -> GCSError {
            GCSError(.credentials, "the credentials file \(source) (GOOGLE_APPLICATION_CREDENTIALS) \(what)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let fields = object as? [String: Any] else {
            throw fail("is not a JSON object")
        }
        let type = fields["type"] as? String
        guard type == "service_account" else {
            throw fail("is of type \(type.map { "'\($0)'" } ?? "(none)"), not 'service_account': only service "
                + "account keys are supported (create one under IAM > Service accounts > Keys)")
        }
        guard let email = fields["client_email"] as? String, !email.isEmpty else { throw fail("has no client_email") }
        guard let pem = fields["private_key"] as? String, !pem.isEmpty else { throw fail("has no private_key") }
        do {
            signingKey = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw fail("has a private_key that is not a usable RSA key (PKCS #8 PEM, 2048 bits or more)")
        }
        self.email = email
        keyID = (fields["private_key_id"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        tokenURI = (fields["token_uri"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultTokenURI
    }

    var description: String { "GCSServiceAccount(\(email), key \(keyID ?? "?"), private key <redacted>)" }
    var debugDescription: String { description }
    var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
