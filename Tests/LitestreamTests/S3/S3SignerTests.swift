import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// SigV4 against the AWS documentation example and against goldens computed offline by botocore
/// (`Fixtures/make-sigv4-goldens.py` → `Fixtures/sigv4-goldens.json`).
@Suite struct S3SignerTests {
    /// "Example: GET Object" of the AWS S3 SigV4 documentation (header-based authentication).
    @Test func awsDocumentationGetObjectExample() {
        let signer = S3Signer(
            accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1")
        let signed = signer.sign(
            method: "GET", encodedPath: S3Signer.encodePath("/test.txt"), canonicalQuery: "",
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
            payloadHash: S3Signer.emptyPayloadHash, date: Date(timeIntervalSince1970: 1_369_353_600))
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        let auth = signed.headers.first { $0.name == "authorization" }?.value
        #expect(
            auth == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    struct Goldens: Decodable {
        var timestamp: String
        var access_key: String
        var secret_key: String
        var cases: [Case]
        struct Case: Decodable {
            var name, method, scheme, host, bucket, region, body, encoded_path, payload_hash: String
            var canonical_request, string_to_sign, signature: String
            var path_style: Bool
            var key: String?
            var session_token: String?
            var query: [[String]]
            var headers: [[String]]
        }
    }

    static func loadGoldens() throws -> Goldens {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/sigv4-goldens.json")
        return try JSONDecoder().decode(Goldens.self, from: Data(contentsOf: url))
    }

    @Test func botocoreGoldens() throws {
        let g = try Self.loadGoldens()
        #expect(g.cases.count >= 8)
        // 20260115T093000Z
        let date = Date(timeIntervalSince1970: 1_768_469_400)
        #expect(S3Signer.timestamps(date).0 == g.timestamp)
        for c in g.cases {
            let raw = (c.path_style ? "/\(c.bucket)" : "") + (c.key.map { "/\($0)" } ?? "")
            let path = S3Signer.encodePath(raw.isEmpty ? "/" : raw)
            #expect(path == c.encoded_path, "\(c.name)")
            let body = Data(c.body.utf8)
            let hash = S3Signer.payloadHash(body)
            #expect(hash == c.payload_hash, "\(c.name)")
            let signer = S3Signer(
                accessKeyID: g.access_key, secretAccessKey: g.secret_key, sessionToken: c.session_token,
                region: c.region)
            let signed = signer.sign(
                method: c.method, encodedPath: path,
                canonicalQuery: S3Signer.canonicalQuery(c.query.map { ($0[0], $0[1]) }),
                headers: [("host", c.host)] + c.headers.map { ($0[0], $0[1]) }, payloadHash: hash, date: date)
            #expect(signed.canonicalRequest == c.canonical_request, "\(c.name)")
            #expect(signed.stringToSign == c.string_to_sign, "\(c.name)")
            #expect(signed.signature == c.signature, "\(c.name)")
        }
    }

    @Test func encoding() {
        #expect(S3Signer.encodePath("/b/a b+c~é(1)") == "/b/a%20b%2Bc~%C3%A9%281%29")
        #expect(S3Signer.canonicalQuery([("uploads", "")]) == "uploads=")
        #expect(S3Signer.canonicalQuery([("prefix", "a/b c"), ("list-type", "2")]) == "list-type=2&prefix=a%2Fb%20c")
    }
}
