import Foundation
import LitestreamSFTP
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `kill(2)`, for code inside a type that has a `kill()` of its own.
private func sendSignal(_ pid: Int32, _ signal: Int32) { _ = kill(pid, signal) }

/// A real OpenSSH server (Debian's `openssh-server`, installed by scripts/lib.sh) on a free loopback port, started
/// by the test itself: its own host key, a client key made for the test in its own `AuthorizedKeysFile`, the
/// in-process SFTP server, and the replica root in a temporary directory. It logs in as the user running the tests.
///
/// It cannot outlive the test process: the shell it runs under kills it (SIGKILL) within a second of the test
/// process's end, however that comes (a crash, SIGKILL, a timeout), and ``stop()`` ends it on a normal end.
final class SSHTestServer: @unchecked Sendable {
    static let sshd = "/usr/sbin/sshd"
    /// Run SFTP server tests where sshd is installed, and always on CI (where a missing sshd fails them).
    static var enabled: Bool { FileManager.default.isExecutableFile(atPath: sshd) || TestEnvironment.isCI }

    let dir: URL
    let port: Int
    let user: String
    /// The replica root: `<dir>/replica`, empty at first.
    let root: String
    /// The client's Ed25519 and ECDSA P-256 keys (OpenSSH format, no passphrase), both authorized.
    let keyPath: String
    let ecdsaKeyPath: String
    /// A key the server does not authorize.
    let strangerKeyPath: String
    /// The server's host key, `ssh-ed25519 AAAA…` (as Litestream's `host-key` takes it).
    let hostKey: String
    /// A known-hosts file listing the server's host key for `[127.0.0.1]:port`.
    let knownHostsPath: String
    private var process: TestEnvironment.BackgroundProcess?

    private init(dir: URL, port: Int) throws {
        self.dir = dir
        self.port = port
        self.user = NSUserName()
        self.root = dir.appendingPathComponent("replica").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        func keygen(_ name: String, _ type: [String]) throws -> String {
            let path = dir.appendingPathComponent(name).path
            let r = try TestEnvironment.run("ssh-keygen", ["-q", "-N", "", "-C", "litestream-test", "-f", path] + type)
            guard r.status == 0 else { throw TestEnvironment.Failure.commandFailed(command: "ssh-keygen", status: r.status, stderr: r.stderr) }
            return path
        }
        let host = try keygen("host_ed25519", ["-t", "ed25519"])
        keyPath = try keygen("client_ed25519", ["-t", "ed25519"])
        ecdsaKeyPath = try keygen("client_ecdsa", ["-t", "ecdsa", "-b", "256"])
        strangerKeyPath = try keygen("stranger_ed25519", ["-t", "ed25519"])
        let pub = { (p: String) in try String(contentsOfFile: p + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
        let hostPub = try pub(host)
        hostKey = hostPub.split(separator: " ").prefix(2).joined(separator: " ")
        try (pub(keyPath) + "\n" + pub(ecdsaKeyPath) + "\n").write(to: dir.appendingPathComponent("authorized_keys"), atomically: true, encoding: .utf8)
        knownHostsPath = dir.appendingPathComponent("known_hosts").path
        try "[127.0.0.1]:\(port) \(hostKey)\n".write(toFile: knownHostsPath, atomically: true, encoding: .utf8)
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(host)
            PidFile \(dir.appendingPathComponent("sshd.pid").path)
            AuthorizedKeysFile \(dir.appendingPathComponent("authorized_keys").path)
            StrictModes no
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            PermitRootLogin prohibit-password
            Subsystem sftp internal-sftp
            LogLevel VERBOSE
            Match User \(Self.passwordUser)
                PasswordAuthentication yes
            """
        try config.write(to: dir.appendingPathComponent("sshd_config"), atomically: true, encoding: .utf8)
        // sshd refuses to start without its privilege separation directory (normally made by systemd).
        try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
    }

    /// Starts a server; throws when sshd is missing (on CI too: scripts/test.sh installs it) or does not come up.
    static func start(_ name: String = "sftp") throws -> SSHTestServer {
        guard FileManager.default.isExecutableFile(atPath: sshd) else {
            throw TestEnvironment.Failure.missingTool("\(sshd) not found: install openssh-server (scripts/test.sh does)")
        }
        let server = try SSHTestServer(dir: try TestEnvironment.temporaryDirectory(name), port: try TestEnvironment.freeLoopbackPort())
        try server.up()
        return server
    }

    /// The sshd listener's pid, while it runs.
    private(set) var pid: Int32?

    /// Starts sshd (again) on the same port, and waits until it accepts connections.
    ///
    /// sshd runs under a shell that is our child, for two reasons. It is the watchdog: it polls the test process and
    /// sshd each second, and kills sshd (SIGKILL) when the test process is gone. And Foundation's `Process` learns
    /// that a child exited when a socket the child inherited closes, then waits for it; sshd closes every inherited
    /// descriptor at start-up, so Foundation, started on sshd directly, would wait for a running sshd and notice no
    /// other child's exit after that. The shell keeps the socket until sshd is gone.
    func up() throws {
        let config = dir.appendingPathComponent("sshd_config").path
        let me = getpid()
        let p = try TestEnvironment.launch("sh", ["-c", """
            \(Self.sshd) -D -e -f '\(config)' &
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
                throw TestEnvironment.Failure.commandFailed(command: "sshd", status: -1, stderr: p.output.stderr)
            }
            if pid == nil {
                pid = Self.descendants(of: p.pid).first { (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("sshd") == true }
            }
            if pid != nil && Self.accepts(port: port) { return }
            usleep(50_000)
        }
        throw TestEnvironment.Failure.timedOut(command: "sshd", after: .seconds(60), stdout: "", stderr: p.output.stderr)
    }

    /// Kills sshd and every session process it forked (SIGKILL): established connections drop at once.
    func kill() {
        guard let p = process else { return }
        if let pid {
            let victims = Self.descendants(of: pid)
            sendSignal(pid, SIGKILL)
            for v in victims { sendSignal(v, SIGKILL) }
        }
        _ = try? p.wait(timeout: .seconds(10))  // the shell ends within a second of sshd
        process = nil
        pid = nil
    }

    /// The server's log so far (sshd -e logs to stderr).
    var log: String { process?.output.stderr ?? "" }

    /// Stops the server for good and removes its directory. Tests call it in a `defer`, which also keeps the server
    /// alive until then (ARC could end an unused object earlier).
    func stop() {
        kill()
        try? FileManager.default.removeItem(at: dir)
    }

    deinit { stop() }

    /// The processes below `pid`, read from /proc (children of children included).
    static func descendants(of pid: Int32) -> [Int32] {
        var parents: [Int32: [Int32]] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let ppid = Int32(fields[1]) { parents[ppid, default: []].append(child) }
        }
        var out: [Int32] = []
        var queue = [pid]
        while let next = queue.popLast() {
            for c in parents[next] ?? [] {
                out.append(c)
                queue.append(c)
            }
        }
        return out
    }

    static func accepts(port: Int) -> Bool {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    // MARK: Password login

    /// The account that logs in with a password (only it: key login stays the only way for the others). A system
    /// account made on first use, since sshd checks a password against /etc/shadow: only root can make it, which
    /// the tests are on CI.
    static let passwordUser = "litestream-sftp-pw"

    /// Whether this machine lets a test make ``passwordUser`` (root), or must (CI).
    static var passwordLoginEnabled: Bool { enabled && (getuid() == 0 || TestEnvironment.isCI) }

    /// Makes ``passwordUser`` if missing, gives it a new random password, and a replica directory it owns under
    /// this server's directory. Returns the password and that directory.
    func preparePasswordLogin() throws -> (password: String, root: String) {
        let user = Self.passwordUser
        if try TestEnvironment.run("id", ["-u", user]).status != 0 {
            let made = try TestEnvironment.run("useradd", ["--system", "--no-create-home", "--shell", "/bin/sh", user])
            guard made.status == 0 else { throw TestEnvironment.Failure.commandFailed(command: "useradd", status: made.status, stderr: made.stderr) }
        }
        let password = "pw-" + UUID().uuidString.prefix(13).lowercased()
        let set = try TestEnvironment.run("chpasswd", [], input: Data("\(user):\(password)\n".utf8))
        guard set.status == 0 else { throw TestEnvironment.Failure.commandFailed(command: "chpasswd", status: set.status, stderr: set.stderr) }
        let root = dir.appendingPathComponent("password-replica").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let id = try TestEnvironment.run("id", ["-u", user]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try FileManager.default.setAttributes([.ownerAccountID: try #require(Int(id))], ofItemAtPath: root)
        return (password, root)
    }

    // MARK: Replica settings

    /// `sftp://user@127.0.0.1:port/<root>/<path>` with our query options for the key and the known-hosts file.
    func url(path: String = "db", keyPath: String? = nil) -> String {
        "sftp://\(user)@127.0.0.1:\(port)\(root)/\(path)?key-path=\(keyPath ?? self.keyPath)&known-hosts-path=\(knownHostsPath)"
    }

    /// The configuration of a replica at `<root>/<path>` with the Ed25519 key and the host key pinned.
    func configuration(path: String = "db") -> SFTPConfiguration {
        var c = SFTPConfiguration(host: "127.0.0.1", port: port, user: user, keyPath: keyPath, path: "\(root)/\(path)")
        c.hostKey = hostKey
        return c
    }

    func replica(path: String = "db") throws -> SFTPReplicaClient {
        try SFTPReplicaClient(configuration: configuration(path: path))
    }

    /// A `replica:` block for litestream.yml with Litestream 0.5.17's keys (both tools read it).
    func replicaYAML(path: String = "db", indent: String = "    ") -> String {
        """
        \(indent)replica:
        \(indent)  type: sftp
        \(indent)  host: 127.0.0.1:\(port)
        \(indent)  user: \(user)
        \(indent)  key-path: \(keyPath)
        \(indent)  host-key: "\(hostKey)"
        \(indent)  path: \(root)/\(path)
        """
    }
}

