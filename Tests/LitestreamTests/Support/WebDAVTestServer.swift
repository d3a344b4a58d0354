import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A real WebDAV server for one test: wsgidav (PyPI) on loopback, serving a temporary directory with HTTP basic
/// auth, started by `scripts/webdav-server.py` from the repository's `.venv` (scripts/test.sh installs it).
///
/// The server is stopped by ``stop()`` or when this object goes away, and stops itself when the test process
/// dies (the script watches its parent process), so a crashed test run leaves no server behind. ``start()`` runs
/// it again on the same port and directory: a server outage in the middle of a test.
final class WebDAVTestServer: @unchecked Sendable {
    /// The directory served (at ``mount``).
    let root: URL
    let port: Int
    let user = "litestream"
    let password: String
    /// The URL path the directory is served at (`/` or, e.g., `/dav`).
    let mount: String
    private let passwordFile: URL
    private let lock = NSLock()
    private var process: TestEnvironment.BackgroundProcess?

    /// The Python of the repository's `.venv` when wsgidav is installed there (`WEBDAV_PYTHON` overrides it).
    static var python: String? {
        if let p = ProcessInfo.processInfo.environment["WEBDAV_PYTHON"], !p.isEmpty { return p }
        let venv = TestEnvironment.repositoryRoot.appendingPathComponent(".venv")
        let python = venv.appendingPathComponent("bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python),
            FileManager.default.isExecutableFile(atPath: venv.appendingPathComponent("bin/wsgidav").path)
        else { return nil }
        return python
    }

    /// Whether WebDAV tests can run here (on CI they must: a missing server fails there).
    static var enabled: Bool { python != nil || TestEnvironment.isCI }

    /// Starts a server on a free port (or `port`) serving `root` (default: a new temporary directory) at `mount`,
    /// and waits until it accepts connections. `--behind-proxy` in `extraArguments`: a MOVE's Destination is
    /// taken as naming this server (for a proxy in between).
    /// More arguments for the script (`--behind-proxy`).
    private let extraArguments: [String]
    /// With `tls`: the test CA's certificate (PEM) that a client must trust to reach the server over HTTPS.
    let caFile: String?

    init(root: URL? = nil, mount: String = "/", port: Int? = nil, tls: Bool = false, extraArguments: [String] = []) throws {
        let tlsDir = tls ? try TestEnvironment.temporaryDirectory("webdav-tls").path : nil
        caFile = tlsDir.map { $0 + "/ca.pem" }
        self.extraArguments = extraArguments + (tlsDir.map { ["--tls-dir", $0] } ?? [])
        self.root = try root ?? TestEnvironment.temporaryDirectory("webdav-root")
        self.mount = mount
        self.password = "pw-" + UUID().uuidString.prefix(12).lowercased()
        passwordFile = try TestEnvironment.temporaryDirectory("webdav-secret").appendingPathComponent("password")
        try Data(password.utf8).write(to: passwordFile)
        self.port = try port ?? TestEnvironment.freeLoopbackPort()
        try start()
    }

    deinit { stop() }

    /// `http://127.0.0.1:<port><mount>` (`https://` with TLS) without credentials.
    var url: String { (caFile == nil ? "http" : "https") + "://127.0.0.1:\(port)" + (mount == "/" ? "" : mount) }

    /// A `webdav://user:password@127.0.0.1:<port>/<path>` replica URL (`webdavs://` with TLS; the server must be
    /// mounted at `/`).
    func replicaURL(path: String, password: String? = nil) -> String {
        (caFile == nil ? "webdav" : "webdavs") + "://\(user):\(password ?? self.password)@127.0.0.1:\(port)/\(path)"
    }

    /// Starts the server (again), on the same port and directory; waits until it answers.
    func start() throws {
        guard let python = Self.python else {
            throw TestEnvironment.Failure.missingTool(
                "wsgidav not found in .venv: run scripts/test.sh (or pip install wsgidav cheroot into .venv)")
        }
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("scripts/webdav-server.py").path
        let deadline = ContinuousClock.now + .seconds(90)
        while true {
            let child = try TestEnvironment.launch(python, [
                script, "--root", root.path, "--port", "\(port)", "--mount", mount, "--user", user,
                "--password-file", passwordFile.path,
            ] + extraArguments)
            // "listening <port>" once bound; a loaded machine takes seconds to import wsgidav.
            while child.isRunning && !child.output.stdout.contains("listening") && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.05)
            }
            if child.output.stdout.contains("listening") {
                lock.withLock { process = child }
                return
            }
            child.terminate()
            let out = try? child.wait(timeout: .seconds(10))
            // The port still held by the server just stopped (a restart): try again until the deadline.
            if ContinuousClock.now >= deadline || !(out?.stderr.contains("Address already in use") ?? false) {
                throw TestEnvironment.Failure.commandFailed(
                    command: "webdav-server.py on port \(port)", status: out?.status ?? -1, stderr: out?.stderr ?? "")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL) and waits for it to exit: the port refuses connections after this.
    func stop() {
        guard let child = lock.withLock({ () -> TestEnvironment.BackgroundProcess? in
            defer { process = nil }
            return process
        }) else { return }
        child.terminate()
        if (try? child.wait(timeout: .seconds(20))) == nil {
            child.signal(SIGKILL)
            _ = try? child.wait(timeout: .seconds(20))
        }
    }

    /// Files under the served directory, relative paths, sorted.
    func files(under path: String = "") -> [String] {
        let base = root.appendingPathComponent(path)
        guard let e = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) else {
            return []
        }
        var out: [String] = []
        for case let url as URL in e where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            out.append(String(url.standardizedFileURL.path.dropFirst(base.standardizedFileURL.path.count + 1)))
        }
        return out.sorted()
    }
}
