import AsyncHTTPClient
import Foundation
import LTX
import NIOHTTP1
import Testing
import LitestreamHTTP

@testable import LitestreamClient
@testable import LitestreamCore

@testable import LitestreamABS

/// Shared Key and SAS against goldens computed offline by azure-storage-blob's own `SharedKeyCredentialPolicy` and
/// `generate_blob_sas` (`scripts/make-abs-oss-goldens.py abs` → `Fixtures/abs-goldens.json`; the SDK is not needed
/// to run this). Each request is built by our client from its parts (container, blob, query, headers) at the same
/// time with the same key, so the URL we send is checked along with the string-to-sign and the signature.
@Suite struct ABSSignerTests {
    struct Goldens: Decodable {
        var generator, account, key, date, version: String
        var cases: [Case]
        var sas: SAS
        struct Case: Decodable {
            var name, method, base, container, url, string_to_sign, authorization: String
            var blob: String?
            var query: [[String]]
            var headers: [[String]]
        }
        struct SAS: Decodable {
            var token, base, container, blob, url, list_url: String
        }
    }

    static func loadGoldens() throws -> Goldens {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/abs-goldens.json")
        return try JSONDecoder().decode(Goldens.self, from: Data(contentsOf: url))
    }

    /// 2026-01-15T09:30:00Z, the goldens' `x-ms-date`.
    static let date = Date(timeIntervalSince1970: 1_768_469_400)

    func makeClient(_ g: Goldens, base: String, sas: String? = nil) throws -> ABSClient {
        var c = ABSConfiguration(accountName: g.account, container: "replicas")
        if base != "https://\(g.account).blob.core.windows.net" { c.endpoint = base }
        if let sas { c.sasToken = sas } else { c.accountKey = g.key }
        return try ABSClient(configuration: c, environment: [:])
    }

    @Test func sharedKeyGoldens() throws {
        let g = try Self.loadGoldens()
        #expect(g.generator.hasPrefix("azure-storage-blob "))
        #expect(g.cases.count >= 8)
        #expect(ABSSigner.httpDate(Self.date) == g.date)
        #expect(ABSClient.version == g.version)
        let signer = try ABSSigner(accountName: g.account, accountKey: g.key)
        for c in g.cases {
            // The signer alone, from the golden's path, query and headers.
            let afterScheme = c.url[c.url.range(of: "://")!.upperBound...]
            let path = String(afterScheme[afterScheme.firstIndex(of: "/")!...].prefix { $0 != "?" })
            let signed = signer.sign(
                method: c.method, encodedPath: path, query: c.query.map { ($0[0], $0[1]) },
                headers: c.headers.map { ($0[0], $0[1]) })
            #expect(signed.stringToSign == c.string_to_sign, "\(c.name)")
            #expect(signed.authorization == c.authorization, "\(c.name)")

            // Our client's request for the same operation: same URL, same Authorization.
            let client = try makeClient(g, base: c.base)
            let request = client.makeRequest(
                c.method, blob: c.blob, query: c.query.map { ($0[0], $0[1]) },
                headers: c.headers.dropFirst(2).map { ($0[0], $0[1]) }, date: Self.date)
            #expect(request.url == c.url, "\(c.name)")
            #expect(request.headers.first(name: "authorization") == c.authorization, "\(c.name)")
            #expect(request.headers.first(name: "x-ms-date") == g.date, "\(c.name)")
            #expect(request.headers["content-length"].isEmpty, "\(c.name): the body sets the length")
        }
    }

    /// The goldens cover what the replica sends: metadata on Put Blob, a range, a list with a marker, a delete, a
    /// block with its id in the query, a block list, a name with a space, a plus and non-ASCII, an emulator's path.
    @Test func goldensCoverTheRequestKinds() throws {
        let g = try Self.loadGoldens()
        let names = Set(g.cases.map(\.name))
        for n in ["put-blob-metadata", "put-blob-exclusive", "get-blob-range", "list-blobs-marker", "delete-blob", "put-block",
                  "put-block-list", "put-unicode-space-plus-key", "emulator-path-style-list"] {
            #expect(names.contains(n), "\(n)")
        }
        let put = try #require(g.cases.first { $0.name == "put-blob-metadata" })
        #expect(put.headers.contains(["x-ms-meta-litestreamtimestamp", "2026-01-15T09:30:00.123Z"]))
        // Our Put Blob headers are the golden's.
        let ours = [("x-ms-blob-type", "BlockBlob")] + ABSClient.blobHeaders(
            timestamp: "2026-01-15T09:30:00.123Z", exclusive: false, contentTypeHeader: "content-type")
        #expect(Set(ours.map { "\($0.0):\($0.1)" }).isSubset(of: Set(put.headers.map { "\($0[0]):\($0[1])" })))
        let exclusive = try #require(g.cases.first { $0.name == "put-blob-exclusive" })
        let oursExclusive = ABSClient.blobHeaders(timestamp: "2026-01-15T09:30:00.5Z", exclusive: true, contentTypeHeader: "content-type")
        #expect(Set(oursExclusive.map { "\($0.0):\($0.1)" }).isSubset(of: Set(exclusive.headers.map { "\($0[0]):\($0[1])" })))
    }

    /// A SAS token goes into the query of every request, after the request's own parameters, and no Authorization
    /// header is sent.
    @Test func sasTokenIsAppendedToTheQuery() throws {
        let g = try Self.loadGoldens()
        for token in [g.sas.token, "?" + g.sas.token] {
            let client = try makeClient(g, base: g.sas.base, sas: token)
            let get = client.makeRequest("GET", blob: g.sas.blob, date: Self.date)
            #expect(get.url == g.sas.url)
            #expect(get.headers["authorization"].isEmpty)
            let list = client.makeRequest(
                "GET", blob: nil, query: [("restype", "container"), ("comp", "list"), ("prefix", "db/ltx/0/"), ("include", "metadata")],
                date: Self.date)
            #expect(list.url == g.sas.list_url)
        }
    }

    @Test func headerOrderIgnoresHyphensFirst() {
        let names = ["x-ms-version", "x-ms-meta-litestreamtimestamp", "x-ms-blob-type", "x-ms-date", "x-ms-access-tier",
                     "x-ms-blob-content-type", "x-ms-range"]
        #expect(names.sorted(by: ABSSigner.headerOrder) == [
            "x-ms-access-tier", "x-ms-blob-content-type", "x-ms-blob-type", "x-ms-date",
            "x-ms-meta-litestreamtimestamp", "x-ms-range", "x-ms-version",
        ])
        // Where hyphens matter: "x-ms-a-b" sorts as "xmsab", after "x-ms-aa".
        #expect(ABSSigner.headerOrder("x-ms-aa", "x-ms-a-b"))
    }

    @Test func keyThatIsNotBase64IsRefusedWithoutShowingIt() {
        do {
            _ = try ABSSigner(accountName: "acct", accountKey: "not base64!! SECRETVALUE")
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains("account-key of storage account acct is not base64"))
            #expect(!"\(error)".contains("SECRETVALUE"))
        }
    }
}
