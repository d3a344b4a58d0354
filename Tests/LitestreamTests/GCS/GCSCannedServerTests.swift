import Foundation
import LTX
import LitestreamHTTP
import Synchronization
import Testing
import _CryptoExtras

@testable import LitestreamCore
@testable import LitestreamGCS

/// What the emulator cannot show, against a scripted local HTTP server (``CannedHTTPServer``): the token exchange
/// (a local token endpoint that checks the assertion's signature and claims), the bearer token on every request,
/// its cache and its renewal after a 401, a refused key, listing pages, and level-0 preconditions (the emulator
/// ignores `ifGenerationMatch`).
@Suite(.ownThreads) struct GCSCannedServerTests {
    /// The committed test key, its token_uri pointed at `server`.
    static func keyFile(tokenURI: String) throws -> String {
        var fields = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: GCSGoldenTests.keyFile))) as? [String: Any])
        fields["token_uri"] = tokenURI
        let file = try TestEnvironment.temporaryDirectory("gcs-key").appendingPathComponent("key.json")
        try JSONSerialization.data(withJSONObject: fields).write(to: file)
        return file.path
    }

    static func client(_ server: CannedHTTPServer, withKey: Bool = true, attempts: Int = 3) throws -> GCSReplicaClient {
        var c = GCSConfiguration(bucket: "bkt", path: "db")
        c.maxAttempts = attempts
        var environment: [String: String] = [:]
        if withKey {
            c.endpoint = server.endpoint
            c.credentialsFile = try keyFile(tokenURI: server.endpoint + "/token")
        } else {
            environment["STORAGE_EMULATOR_HOST"] = "127.0.0.1:\(server.port)"
        }
        var client = try GCSReplicaClient(configuration: c, environment: environment)
        client.client.backoff = .init(baseDelay: .milliseconds(1), maxDelay: .milliseconds(5))
        return client
    }

    static func json(_ status: Int, _ s: String) -> CannedHTTPServer.Response {
        .init(status: status, headers: [("Content-Type", "application/json")], body: Array(s.utf8))
    }

    static func item(_ name: String, size: Int, stamp: String) -> String {
        #"{"name": "\#(name)", "size": "\#(size)", "timeCreated": "2026-01-01T00:00:00.000Z", "metadata": {"litestream-timestamp": "\#(stamp)"}}"#
    }

    /// Checks a token request as Google's endpoint would: the form, the RS256 signature, the claims.
    static func validTokenRequest(_ r: CannedHTTPServer.Request, account: GCSServiceAccount) -> Bool {
        let body = String(decoding: r.body, as: UTF8.self)
        guard r.method == "POST", r.headers["content-type"] == "application/x-www-form-urlencoded",
            body.hasPrefix("assertion="), body.hasSuffix("&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
        else { return false }
        let jwt = body.dropFirst("assertion=".count).prefix { $0 != "&" }
        let parts = jwt.split(separator: ".").map(String.init)
        guard parts.count == 3 else { return false }
        func decode(_ s: String) -> Data? {
            var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while b.count % 4 != 0 { b += "=" }
            return Data(base64Encoded: b)
        }
        guard let signature = decode(parts[2]), let claimsData = decode(parts[1]),
            let claims = try? JSONSerialization.jsonObject(with: claimsData) as? [String: Any],
            let iat = (claims["iat"] as? NSNumber)?.int64Value, let exp = (claims["exp"] as? NSNumber)?.int64Value
        else { return false }
        let valid = account.signingKey.publicKey.isValidSignature(
            _RSA.Signing.RSASignature(rawRepresentation: signature), for: Data((parts[0] + "." + parts[1]).utf8),
            padding: .insecurePKCS1v1_5)
        let now = Int64(Date().timeIntervalSince1970)
        return valid && claims["iss"] as? String == account.email && claims["aud"] as? String == GCSJWT.audience
            && claims["scope"] as? String == GCSJWT.scope && abs(iat - now) < 600 && exp == iat + 3600
    }

    @Test func tokenIsExchangedCachedAndSentAsBearer() async throws {
        let account = try GCSServiceAccount(contentsOf: GCSGoldenTests.keyFile)
        let tokens = Mutex(0)
        let server = try CannedHTTPServer { r, _ in
            if r.target == "/token" {
                guard Self.validTokenRequest(r, account: account) else { return Self.json(400, #"{"error": "invalid_grant"}"#) }
                tokens.withLock { $0 += 1 }
                return Self.json(200, #"{"access_token": "ya29.TOKEN-1", "expires_in": 3599, "token_type": "Bearer"}"#)
            }
            guard r.headers["authorization"] == "Bearer ya29.TOKEN-1" else { return Self.json(401, #"{"error": {"code": 401, "message": "no"}}"#) }
            guard r.method == "GET", r.target.hasPrefix("/storage/v1/b/bkt/o?"), r.target.contains("prefix=db%2Fltx%2F0%2F") else {
                return .init(status: 400)
            }
            if r.target.contains("pageToken=p%2B2") {
                return Self.json(200, #"{"kind": "storage#objects", "items": [\#(Self.item("db/ltx/0/0000000000000002-0000000000000002.ltx", size: 20, stamp: "2026-11-27T04:12:53.2Z"))]}"#)
            }
            return Self.json(200, #"{"kind": "storage#objects", "nextPageToken": "p+2", "items": [\#(Self.item("db/ltx/0/0000000000000001-0000000000000001.ltx", size: 10, stamp: "2026-11-27T04:12:53.217Z")), \#(Self.item("db/ltx/0/junk.txt", size: 1, stamp: "x"))]}"#)
        }
        defer { server.stop() }
        let replica = try Self.client(server)
        let files = try await replica.ltxFiles(level: 0)
        #expect(files.map(\.maxTXID) == [TXID(1), TXID(2)])
        #expect(files.map(\.size) == [10, 20])
        #expect(files.map(\.createdAt) == [1_795_752_773_217, 1_795_752_773_200])
        _ = try await replica.ltxFiles(level: 0)
        #expect(tokens.withLock { $0 } == 1, "one exchange for four requests")
        #expect(server.requests.filter { $0.target == "/token" }.count == 1)
    }

    @Test func refusedTokenIsRenewedOnce() async throws {
        let issued = Mutex(0)
        let server = try CannedHTTPServer { r, _ in
            if r.target == "/token" {
                let n = issued.withLock { $0 += 1; return $0 }
                return Self.json(200, #"{"access_token": "ya29.T\#(n)", "expires_in": 3599}"#)
            }
            // The first token was revoked.
            guard r.headers["authorization"] == "Bearer ya29.T2" else { return Self.json(401, #"{"error": {"message": "Invalid Credentials"}}"#) }
            return Self.json(200, #"{"kind": "storage#objects"}"#)
        }
        defer { server.stop() }
        try await Self.client(server).checkAccess()
        #expect(issued.withLock { $0 } == 2)
    }

    @Test func refusedKeyIsReportedWithoutSecrets() async throws {
        let server = try CannedHTTPServer { r, _ in
            if r.target == "/token" {
                return Self.json(400, #"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#)
            }
            return .init(status: 500)
        }
        defer { server.stop() }
        let replica = try Self.client(server)
        let error = try await #require(throws: GCSError.self) { try await replica.checkAccess() }
        #expect(error.code == .tokenRefused, "\(error)")
        let text = error.description
        #expect(text.contains("invalid_grant") && text.contains(server.endpoint + "/token"), "\(text)")
        #expect(text.contains("litestream-test@litestream-swift-tests.iam.gserviceaccount.com"), "\(text)")
        let assertion = String(decoding: try #require(server.requests.first).body, as: UTF8.self)
        #expect(!text.contains("PRIVATE KEY") && !text.contains(String(assertion.dropFirst(10).prefix(40))), "\(text)")
        #expect(server.requests.allSatisfy { $0.target == "/token" }, "nothing was sent to storage without a token")
    }

    /// Level 0 is written with `ifGenerationMatch=0`: a 412 to a first try is another writer's object
    /// (``ReplicaError`` `.fileExists`); to a retry, an object of our size is our own first try, its answer lost.
    @Test func levelZeroPreconditions() async throws {
        let server = try CannedHTTPServer { r, n in
            if r.method == "POST" {
                guard r.target.contains("uploadType=multipart"), r.target.contains("ifGenerationMatch=0") else { return .init(status: 400) }
                // Request 0: taken. Then: a 503 (the first try stored the object but its answer was lost), a 412.
                if n == 0 || n == 2 { return Self.json(412, #"{"error": {"code": 412, "message": "conditionNotMet"}}"#) }
                return Self.json(503, #"{"error": {"message": "backend"}}"#)
            }
            if r.method == "GET" { return Self.json(200, #"{"name": "x", "size": "3"}"#) }
            return .init(status: 400)
        }
        defer { server.stop() }
        let replica = try Self.client(server, withKey: false)
        func write() async throws {
            try await replica.writeLTXFile(level: 0, minTXID: TXID(1), maxTXID: TXID(1), timestamp: 1) { sink in
                try [UInt8]([1, 2, 3]).withUnsafeBytes { try sink($0) }
            }
        }
        let e = await #expect(throws: ReplicaError.self) { try await write() }
        #expect(e?.code == .fileExists)
        try await write()
        #expect(server.requests.map(\.method) == ["POST", "POST", "POST", "GET"])
        // The multipart body: the resource's JSON (name and timestamp metadata), then the media.
        let body = String(decoding: server.requests[0].body, as: UTF8.self)
        #expect(body.contains(#""metadata":{"litestream-timestamp":"1970-01-01T00:00:00.001Z"}"#), "\(body)")
        #expect(body.contains(#""name":"db/ltx/0/0000000000000001-0000000000000001.ltx""#), "\(body)")
        #expect(server.requests[0].headers["content-type"]?.hasPrefix("multipart/related; boundary=") == true)
    }

    /// A resumable upload (the emulator's session URLs bypass a proxy, so its faults are scripted here): a chunk
    /// answered 503 is followed by a status query, the upload goes on from what the server holds, and a session the
    /// server no longer knows (404) starts over.
    @Test func resumableUploadResumesAfterALostChunk() async throws {
        let chunk = 256 << 10
        let size = 2 * chunk + 100
        let sessions = Mutex(0)
        let secondChunkTries = Mutex(0)
        let server = try CannedHTTPServer { r, _ in
            if r.method == "POST" {
                guard r.target.contains("uploadType=resumable"), r.headers["x-upload-content-length"] == "\(size)" else {
                    return .init(status: 400)
                }
                let n = sessions.withLock { $0 += 1; return $0 }
                return .init(status: 200, headers: [("Location", "http://127.0.0.1:\(r.headers["host"]!.split(separator: ":").last!)/session/\(n)")])
            }
            guard r.method == "PUT", let range = r.headers["content-range"] else { return .init(status: 400) }
            if r.target == "/session/1" {
                // The first session: chunk 0 is taken, chunk 1 fails (503), and when it is sent again after the status
                // query the session has expired (404).
                switch range {
                case "bytes 0-\(chunk - 1)/\(size)": return .init(status: 308, headers: [("Range", "bytes=0-\(chunk - 1)")])
                case "bytes \(chunk)-\(2 * chunk - 1)/\(size)":
                    let n = secondChunkTries.withLock { $0 += 1; return $0 }
                    return n == 1 ? Self.json(503, #"{"error": {"message": "backend"}}"#) : .init(status: 404)
                case "bytes */\(size)": return .init(status: 308, headers: [("Range", "bytes=0-\(chunk - 1)")])
                default: return .init(status: 400)
                }
            }
            // The second session: everything goes in.
            switch range {
            case "bytes 0-\(chunk - 1)/\(size)": return .init(status: 308, headers: [("Range", "bytes=0-\(chunk - 1)")])
            case "bytes \(chunk)-\(2 * chunk - 1)/\(size)": return .init(status: 308, headers: [("Range", "bytes=0-\(2 * chunk - 1)")])
            case "bytes \(2 * chunk)-\(size - 1)/\(size)": return Self.json(200, #"{"name": "x", "size": "\#(size)"}"#)
            default: return .init(status: 400)
            }
        }
        defer { server.stop() }
        var c = GCSConfiguration(bucket: "bkt", path: "db")
        c.chunkSize = chunk
        c.maxAttempts = 3
        var replica = try GCSReplicaClient(configuration: c, environment: ["STORAGE_EMULATOR_HOST": "127.0.0.1:\(server.port)"])
        replica.client.backoff = .init(baseDelay: .milliseconds(1), maxDelay: .milliseconds(5))
        try await replica.writeLTXFile(level: 9, minTXID: TXID(1), maxTXID: TXID(2), timestamp: 1) { sink in
            try [UInt8](repeating: 7, count: size).withUnsafeBytes { try sink($0) }
        }
        let trail = server.requests.map { r in r.method + " " + r.target + " " + (r.headers["content-range"] ?? "") }
        // Session 1: chunk 0, chunk 1 (503), status query (holds chunk 0), chunk 1 again (404: expired); session 2:
        // three chunks.
        #expect(sessions.withLock { $0 } == 2, "\(trail)")
        #expect(trail.map { $0.split(separator: " ").prefix(2).joined(separator: " ") } == [
            "POST /upload/storage/v1/b/bkt/o?uploadType=resumable", "PUT /session/1", "PUT /session/1", "PUT /session/1",
            "PUT /session/1", "POST /upload/storage/v1/b/bkt/o?uploadType=resumable", "PUT /session/2", "PUT /session/2",
            "PUT /session/2",
        ], "\(trail)")
        #expect(trail[3].hasSuffix("bytes */\(size)") && trail[4].hasSuffix("bytes \(chunk)-\(2 * chunk - 1)/\(size)"), "\(trail)")
        #expect(server.requests.last?.headers["content-range"] == "bytes \(2 * chunk)-\(size - 1)/\(size)", "\(trail)")
        #expect(server.requests.filter { $0.method == "PUT" }.allSatisfy { $0.body.count <= chunk })
    }
}
