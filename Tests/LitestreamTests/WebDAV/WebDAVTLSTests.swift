import Foundation
import LitestreamHTTP
import Testing

@testable import LitestreamWebDAV

/// `webdavs://`: a WebDAV server over HTTPS with a certificate from a private CA (wsgidav with a test CA made by
/// scripts/webdav-server.py). The CA is trusted the way a Litestream 0.5.17 deployment trusts it, through Go's
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`, by our CLI and by the real Litestream alike, both ways.
@Suite(.ownThreads, .enabled(if: WebDAVTestServer.enabled, "needs wsgidav in .venv (scripts/test.sh)"))
struct WebDAVTLSTests {
    /// Neither variable from the machine: only what a test passes counts.
    static let noTrust = ["SSL_CERT_FILE": "", "SSL_CERT_DIR": ""]

    static func run(_ exe: String, _ args: [String], _ environment: [String: String]) throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        try TestEnvironment.run(exe, args, environment: noTrust.merging(environment) { $1 }, timeout: .seconds(180))
    }

    @Test func bothWaysOverHTTPSWithAPrivateCA() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try WebDAVTestServer(tls: true)
        let ca = try #require(server.caFile)
        let dir = try TestEnvironment.temporaryDirectory("webdavs-interop")
        let db = try S3EndToEndTests.makeSource(dir)

        // Ours replicates trusting SSL_CERT_FILE; Litestream 0.5.17 restores trusting the same file.
        let oursURL = server.replicaURL(path: "backups/ours")
        #expect(oursURL.hasPrefix("webdavs://"))
        let rep = try Self.run(ours, ["replicate", "-once", db, oursURL], ["SSL_CERT_FILE": ca])
        #expect(rep.status == 0, "our replicate over HTTPS: \(rep.stderr)")
        #expect(!server.files(under: "backups/ours").isEmpty)
        let out1 = dir.appendingPathComponent("official-restore.db").path
        let res1 = try Self.run(official, ["restore", "-o", out1, oursURL], ["SSL_CERT_FILE": ca])
        #expect(res1.status == 0, "litestream restore over HTTPS: \(res1.stderr)")
        #expect(try TestDatabase.contentDigest(path: out1) == TestDatabase.contentDigest(path: db))

        // Litestream 0.5.17 replicates; ours restores trusting a directory of certificates (SSL_CERT_DIR) that
        // also holds a file that is no certificate.
        let officialURL = server.replicaURL(path: "backups/official")
        let child = try TestEnvironment.launch(
            official, ["replicate", db, officialURL], environment: Self.noTrust.merging(["SSL_CERT_FILE": ca]) { $1 })
        let deadline = ContinuousClock.now + .seconds(90)
        while server.files(under: "backups/official").isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(300))
        }
        try await Task.sleep(for: .seconds(2))
        child.interrupt()
        let stopped = try child.wait(timeout: .seconds(60))
        #expect(!server.files(under: "backups/official").isEmpty, "litestream uploaded nothing: \(stopped.stderr)")
        let certs = dir.appendingPathComponent("certs")
        try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: ca, toPath: certs.appendingPathComponent("test-ca.pem").path)
        try "not a certificate\n".write(to: certs.appendingPathComponent("README"), atomically: true, encoding: .utf8)
        let out2 = dir.appendingPathComponent("our-restore.db").path
        let res2 = try Self.run(ours, ["restore", "-o", out2, officialURL], ["SSL_CERT_DIR": "/nonexistent-dir-skipped-as-go-does:" + certs.path])
        #expect(res2.status == 0, "our restore over HTTPS: \(res2.stderr)")
        #expect(try TestDatabase.contentDigest(path: out2) == TestDatabase.contentDigest(path: db))
    }

    /// Without the CA, the server's certificate is not trusted: the command fails at once (no retries: another try
    /// cannot help), says so at that endpoint, points at SSL_CERT_FILE, and prints no password.
    @Test func anUntrustedCertificateIsAClearError() async throws {
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try WebDAVTestServer(tls: true)
        let dir = try TestEnvironment.temporaryDirectory("webdavs-untrusted")
        let out = dir.appendingPathComponent("out.db").path
        let started = ContinuousClock.now
        let r = try Self.run(ours, ["restore", "-o", out, server.replicaURL(path: "backups/none")], [:])
        // Ten attempts with their backoff take over 20 s; one attempt takes milliseconds (15 s: a loaded machine).
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(r.status != 0)
        #expect(r.stderr.contains("127.0.0.1:\(server.port)"), "\(r.stderr)")
        #expect(r.stderr.contains("certificate is not trusted") && r.stderr.contains("SSL_CERT_FILE"), "\(r.stderr)")
        #expect(!r.stderr.contains("is reachable"), "\(r.stderr)")
        #expect(!r.stderr.contains(server.password))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// A path in SSL_CERT_FILE that cannot be read is named at once, not reported later as an untrusted server.
    @Test func anUnreadableCertFileIsNamed() async throws {
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try WebDAVTestServer(tls: true)
        let dir = try TestEnvironment.temporaryDirectory("webdavs-bad-cert-file")
        let missing = dir.appendingPathComponent("no-such-ca.pem").path
        let r = try Self.run(
            ours, ["restore", "-o", dir.appendingPathComponent("out.db").path, server.replicaURL(path: "b")],
            ["SSL_CERT_FILE": missing])
        #expect(r.status != 0)
        #expect(r.stderr.contains("SSL_CERT_FILE=\(missing)"), "\(r.stderr)")
    }

    @Test func environmentTrustRootsReadFilesAndDirectories() throws {
        #expect(try EnvironmentTrustRoots.roots(environment: [:]).isEmpty)
        #expect(try EnvironmentTrustRoots.roots(environment: ["SSL_CERT_FILE": "", "SSL_CERT_DIR": ""]).isEmpty)
        let server = try WebDAVTestServer(tls: true)
        let ca = try #require(server.caFile)
        let dir = try TestEnvironment.temporaryDirectory("trust-roots")
        try "no certificate here\n".write(to: dir.appendingPathComponent("README"), atomically: true, encoding: .utf8)
        #expect(try EnvironmentTrustRoots.roots(environment: ["SSL_CERT_DIR": dir.path]).isEmpty)
        try FileManager.default.copyItem(atPath: ca, toPath: dir.appendingPathComponent("ca.pem").path)
        #expect(try EnvironmentTrustRoots.roots(environment: ["SSL_CERT_DIR": "\(dir.path):\(dir.path)"]).count == 1)
        #expect(try EnvironmentTrustRoots.roots(environment: ["SSL_CERT_FILE": ca]).count == 1)
        #expect(throws: EnvironmentTrustRoots.Invalid.self) {
            try EnvironmentTrustRoots.roots(environment: ["SSL_CERT_FILE": dir.appendingPathComponent("README").path])
        }
        // A directory that is not there is skipped, as Go does (lists of candidate directories are common).
        #expect(try EnvironmentTrustRoots.roots(environment: ["SSL_CERT_DIR": dir.appendingPathComponent("nope").path]).isEmpty)
    }
}
