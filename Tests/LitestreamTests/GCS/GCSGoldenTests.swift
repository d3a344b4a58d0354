import Foundation
import Testing
import _CryptoExtras

@testable import LitestreamGCS

/// The service account assertion and token request, byte for byte as Google's Python library (google-auth) makes
/// them for the committed test key at a fixed time (`scripts/gcs-goldens.py` → `Fixtures/jwt-goldens.json`).
struct GCSGoldenTests {
    struct Goldens: Decodable {
        struct TokenRequest: Decodable {
            var url: String
            var method: String
            var body: String
            var content_type: String
        }
        var issued_at: Int64
        var scope: String
        var header_json: String
        var claims_json: String
        var assertion: String
        var signature_base64url: String
        var token_request: TokenRequest
        var signer_message: String
        var signer_signature_hex: String
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static var keyFile: String { fixtures.appendingPathComponent("service-account.json").path }

    static func goldens() throws -> Goldens {
        try JSONDecoder().decode(Goldens.self, from: Data(contentsOf: fixtures.appendingPathComponent("jwt-goldens.json")))
    }

    @Test func assertionEqualsGoogleAuths() throws {
        let g = try Self.goldens()
        let account = try GCSServiceAccount(contentsOf: Self.keyFile)
        #expect(GCSJWT.scope == g.scope)
        #expect(GCSJWT.header(keyID: account.keyID) == g.header_json)
        #expect(GCSJWT.claims(email: account.email, issuedAt: g.issued_at) == g.claims_json)
        let assertion = try GCSJWT.assertion(for: account, issuedAt: g.issued_at)
        #expect(assertion == g.assertion)
        #expect(assertion.split(separator: ".").last.map(String.init) == g.signature_base64url)
    }

    @Test func tokenRequestEqualsGoogleAuths() throws {
        let g = try Self.goldens()
        let account = try GCSServiceAccount(contentsOf: Self.keyFile)
        #expect(account.tokenURI == g.token_request.url)
        #expect(g.token_request.method == "POST" && g.token_request.content_type == "application/x-www-form-urlencoded")
        let assertion = try GCSJWT.assertion(for: account, issuedAt: g.issued_at)
        #expect(GCSJWT.tokenRequestBody(assertion: assertion) == g.token_request.body)
    }

    /// RS256 itself, apart from the JWT: google.auth.crypt.RSASigner's signature of a fixed message.
    @Test func signatureEqualsRSASigners() throws {
        let g = try Self.goldens()
        let account = try GCSServiceAccount(contentsOf: Self.keyFile)
        let signature = try account.signingKey.signature(for: Data(g.signer_message.utf8), padding: .insecurePKCS1v1_5)
        #expect(signature.rawRepresentation.map { String(format: "%02x", $0) }.joined() == g.signer_signature_hex)
    }

    @Test func pythonJSONAndFormEncoding() {
        #expect(GCSJWT.quote("a\"b\\c\nd\u{1}é😀") == "\"a\\\"b\\\\c\\nd\\u0001\\u00e9\\ud83d\\ude00\"")
        #expect(GCSJWT.formEncode("a b:c/d~e_f.g-h") == "a+b%3Ac%2Fd~e_f.g-h")
        #expect(GCSJWT.base64URL(Data([0xfb, 0xff])) == "-_8")
    }

    @Test func keyFileErrorsNameTheFileNotItsContents() throws {
        let dir = try TestEnvironment.temporaryDirectory("gcs-keys")
        let missing = dir.appendingPathComponent("missing.json").path
        let e1 = try #require(throws: GCSError.self) { try GCSServiceAccount(contentsOf: missing) }
        #expect(e1.code == .credentials && e1.description.contains(missing) && e1.description.contains("GOOGLE_APPLICATION_CREDENTIALS"), "\(e1)")

        let notJSON = dir.appendingPathComponent("bad.json")
        try Data("-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n".utf8).write(to: notJSON)
        let e2 = try #require(throws: GCSError.self) { try GCSServiceAccount(contentsOf: notJSON.path) }
        #expect(e2.description.contains("not a JSON object") && !e2.description.contains("SECRETSECRET"), "\(e2)")

        let user = dir.appendingPathComponent("user.json")
        try Data(#"{"type": "authorized_user", "refresh_token": "SECRETSECRET"}"#.utf8).write(to: user)
        let e3 = try #require(throws: GCSError.self) { try GCSServiceAccount(contentsOf: user.path) }
        #expect(e3.description.contains("authorized_user") && !e3.description.contains("SECRETSECRET"), "\(e3)")

        let badKey = dir.appendingPathComponent("badkey.json")
        try Data(#"{"type": "service_account", "client_email": "a@b", "private_key": "SECRETSECRET"}"#.utf8).write(to: badKey)
        let e4 = try #require(throws: GCSError.self) { try GCSServiceAccount(contentsOf: badKey.path) }
        #expect(e4.description.contains("private_key") && !e4.description.contains("SECRETSECRET"), "\(e4)")

        // A good key prints as its e-mail and key id, never the key.
        let account = try GCSServiceAccount(contentsOf: Self.keyFile)
        for text in ["\(account)", String(reflecting: account), { var s = ""; dump(account, to: &s); return s }()] {
            #expect(!text.contains("PRIVATE KEY") && text.contains(account.email), "\(text)")
        }
    }

    @Test func objectNamesAsLitestreams() throws {
        // Go's path.Join / path.Clean, as Litestream's LTXFilePath.
        #expect(GCSObjectName.levelDirectory(root: "backups/db", level: 9) == "backups/db/ltx/9")
        #expect(GCSObjectName.levelDirectory(root: ".", level: 0) == "ltx/0")
        #expect(GCSObjectName.levelDirectory(root: "", level: 1) == "ltx/1")
        #expect(GCSObjectName.levelDirectory(root: "/abs//x/", level: 2) == "/abs/x/ltx/2")
        #expect(GCSObjectName.clean("a/../../b/./c") == "../b/c")
        #expect(GCSObjectName.encode("a/b c+ü") == "a%2Fb%20c%2B%C3%BC")
        // The URL as Litestream's ParseReplicaURL reads it.
        let c = try GCSConfiguration.parse(url: "gs://my-bucket/backups//db/?x=1")
        #expect(c.bucket == "my-bucket" && c.path == "backups/db")
        #expect(try GCSConfiguration.parse(url: "gs://my-bucket").path == ".")
        #expect(throws: GCSConfiguration.Invalid.self) { try GCSConfiguration.parse(url: "gs:///path") }
    }
}
