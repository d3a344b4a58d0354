import Foundation
import Logging
import Testing

@testable import LitestreamNATS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `kill(2)`, for code inside a type that has a `kill()` of its own.
private func signalProcess(_ pid: Int32, _ signal: Int32) { _ = kill(pid, signal) }

/// A real nats-server (Debian's `nats-server` 2.9, installed by scripts/lib.sh) with JetStream, on a free loopback
/// port with its store in a temporary directory, started by the test itself.
///
/// It cannot outlive the test process: the shell it runs under kills it (SIGKILL) within a second of the test
/// process's end, however that comes, and ``stop()`` ends it on a normal end. ``kill()`` and ``up()`` stop and
/// start it again on the same port and store (an outage).
final class NATSTestServer: @unchecked Sendable {
    static let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    /// Run NATS server tests where nats-server is installed, and always on CI (where a missing one fails them).
    static var enabled: Bool { binary != nil || TestEnvironment.isCI }

    enum Auth {
        case none
        case userPassword(String, String)
        case token(String)
        /// A user nkey (its public key `U…` in the server's configuration).
        case nkey(publicKey: String)
        /// Operator mode: JWT logins, the user's credentials in ``credsPath``.
        case operatorJWT(NATSOperatorSetup)
    }

    /// The user's credentials file, for ``Auth/operatorJWT(_:)``.
    var credsPath: String { dir.appendingPathComponent("user.creds").path }

    let dir: URL
    let port: Int
    let auth: Auth
    /// With TLS: the CA that signed the server's certificate, and a client certificate the server requires.
    let tls: Bool
    var caPath: String { dir.appendingPathComponent("ca.pem").path }
    var clientCertPath: String { dir.appendingPathComponent("client.pem").path }
    var clientKeyPath: String { dir.appendingPathComponent("client-key.pem").path }
    private var process: TestEnvironment.BackgroundProcess?
    private(set) var pid: Int32?

    /// The user nkey the tests log in with (nkeys goldens: the seed of bytes 0…31).
    static let nkeySeed = "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y"
    static let nkeyPublic = "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK"

    private init(dir: URL, port: Int, auth: Auth, tls: Bool) throws {
        self.dir = dir
        self.port = port
        self.auth = auth
        self.tls = tls
        var tlsBlock = ""
        if tls {
            try Self.makeCertificates(in: dir)
            let d = dir.path
            tlsBlock = "tls { cert_file: \"\(d)/server.pem\", key_file: \"\(d)/server-key.pem\", ca_file: \"\(d)/ca.pem\", verify: true }"
        }
        var authBlock = ""
        switch auth {
        case .none: break
        case .userPassword(let u, let p): authBlock = "authorization { user: \"\(u)\", password: \"\(p)\" }"
        case .token(let t): authBlock = "authorization { token: \"\(t)\" }"
        case .nkey(let key): authBlock = "authorization { users: [ { nkey: \(key) } ] }"
        case .operatorJWT(let setup):
            authBlock = setup.serverConfiguration
            try setup.credsFile.write(toFile: dir.appendingPathComponent("user.creds").path, atomically: true, encoding: .utf8)
        }
        let config = """
            listen: 127.0.0.1:\(port)
            jetstream { store_dir: "\(dir.appendingPathComponent("store").path)" }
            \(authBlock)
            \(tlsBlock)
            """
        try config.write(to: dir.appendingPathComponent("nats.conf"), atomically: true, encoding: .utf8)
    }

    /// Starts a server; throws when nats-server is missing (on CI too: scripts/test.sh installs it) or does not
    /// come up.
    static func start(_ name: String = "nats", auth: Auth = .none, tls: Bool = false) throws -> NATSTestServer {
        guard binary != nil else {
            throw TestEnvironment.Failure.missingTool("nats-server not found: install nats-server (scripts/test.sh does)")
        }
        let server = try NATSTestServer(dir: try TestEnvironment.temporaryDirectory(name), port: try TestEnvironment.freeLoopbackPort(), auth: auth, tls: tls)
        try server.up()
        return server
    }

    /// Starts nats-server (again) on the same port and store, and waits until it accepts connections.
    ///
    /// It runs under a shell that is our child and its watchdog: the shell polls the test process and the server
    /// each second, and kills the server (SIGKILL) when the test process is gone.
    func up() throws {
        let me = getpid()
        let p = try TestEnvironment.launch("sh", ["-c", """
            \(Self.binary!) -c '\(dir.appendingPathComponent("nats.conf").path)' &
            child=$!
            while kill -0 \(me) 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done
            kill -9 $child 2>/dev/null
            wait $child
            exit 0
            """])
        process = p
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard p.isRunning else {
                throw TestEnvironment.Failure.commandFailed(command: "nats-server", status: -1, stderr: p.output.stderr)
            }
            if pid == nil {
                pid = SSHTestServer.descendants(of: p.pid).first {
                    (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("nats-server") == true
                }
            }
            // "Server is ready" comes after JetStream has recovered its streams.
            let out = p.output
            if pid != nil && (out.stderr.contains("Server is ready") || out.stdout.contains("Server is ready")) { return }
            usleep(50_000)
        }
        throw TestEnvironment.Failure.timedOut(command: "nats-server", after: .seconds(60), stdout: "", stderr: p.output.stderr)
    }

    /// Kills the server (SIGKILL): connections drop at once.
    func kill() {
        guard let p = process else { return }
        if let pid { signalProcess(pid, SIGKILL) }
        _ = try? p.wait(timeout: .seconds(10))
        process = nil
        pid = nil
    }

    /// The server's log so far.
    var log: String { process?.output.stderr ?? "" }

    /// Stops the server for good and removes its directory. Tests call it in a `defer`.
    func stop() {
        kill()
        try? FileManager.default.removeItem(at: dir)
    }

    deinit { stop() }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, ECDSA P-256, with openssl.
    static func makeCertificates(in dir: URL) throws {
        let d = dir.path
        func openssl(_ args: [String]) throws {
            let r = try TestEnvironment.run("openssl", args)
            guard r.status == 0 else { throw TestEnvironment.Failure.commandFailed(command: "openssl \(args.first ?? "")", status: r.status, stderr: r.stderr) }
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(["req", "-x509"] + ec + ["-keyout", "\(d)/ca-key.pem", "-out", "\(d)/ca.pem", "-days", "2", "-subj", "/CN=litestream-test-ca"])
        for (name, ext) in [("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"), ("client", "extendedKeyUsage=clientAuth\n")] {
            try ext.write(toFile: "\(d)/\(name).ext", atomically: true, encoding: .utf8)
            try openssl(["req"] + ec + ["-keyout", "\(d)/\(name)-key.pem", "-out", "\(d)/\(name).csr", "-subj", "/CN=\(name)"])
            try openssl(["x509", "-req", "-in", "\(d)/\(name).csr", "-CA", "\(d)/ca.pem", "-CAkey", "\(d)/ca-key.pem",
                "-CAcreateserial", "-out", "\(d)/\(name).pem", "-days", "2", "-extfile", "\(d)/\(name).ext"])
        }
    }

    // MARK: Replica settings

    /// `nats://[user:password@]127.0.0.1:port/bucket` (with the server's user and password, or token).
    func url(bucket: String) -> String {
        switch auth {
        case .userPassword(let u, let p): "nats://\(u):\(p)@127.0.0.1:\(port)/\(bucket)"
        case .token(let t): "nats://\(t)@127.0.0.1:\(port)/\(bucket)"
        case .none, .nkey, .operatorJWT: "nats://127.0.0.1:\(port)/\(bucket)"
        }
    }

    func configuration(bucket: String) -> NATSConfiguration {
        var c = NATSConfiguration(bucket: bucket, host: "127.0.0.1", port: port)
        switch auth {
        case .none: break
        case .userPassword(let u, let p): (c.username, c.password) = (u, p)
        case .token(let t): c.token = t
        case .nkey: c.nkey = Self.nkeySeed
        case .operatorJWT: c.creds = credsPath
        }
        if tls {
            c.rootCAs = [caPath]
            (c.clientCert, c.clientKey) = (clientCertPath, clientKeyPath)
        }
        c.timeout = .seconds(30)  // a loaded CI machine
        c.reconnectWait = .milliseconds(500)
        return c
    }

    func replica(bucket: String) throws -> NATSReplicaClient {
        try NATSReplicaClient(configuration: configuration(bucket: bucket))
    }

    /// Creates the bucket as nats.go's `CreateObjectStore` does (the replica never creates it, as Litestream).
    func createBucket(_ bucket: String) async throws {
        let connection = try await NATSConnection.connect(configuration(bucket: bucket), logger: Logger(label: "test"))
        defer { Task { await connection.close() } }
        try await NATSObjectStore(bucket: bucket, connection: connection).createBucket()
    }

    /// The replica's keys for a Litestream configuration file (both tools read them).
    func replicaYAML(bucket: String) -> String {
        var lines = ["    replica:", "      type: nats", "      url: nats://127.0.0.1:\(port)/\(bucket)"]
        switch auth {
        case .none, .nkey: break
        case .operatorJWT: lines += ["      creds: \(credsPath)"]
        case .userPassword(let u, let p): lines += ["      username: \(u)", "      password: \(p)"]
        case .token(let t): lines += ["      token: \(t)"]
        }
        return lines.joined(separator: "\n")
    }
}
