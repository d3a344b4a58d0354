import Foundation
import LTX
import NIOSSH
import Testing

@testable import LitestreamConfig
@testable import LitestreamSFTP

/// Private keys as `ssh-keygen` writes them, known-hosts files as OpenSSH reads them, and the SFTP settings of the
/// URL and the configuration file.
struct SSHKeyTests {
    static func keygen(_ dir: URL, _ name: String, _ args: [String]) throws -> String {
        let path = dir.appendingPathComponent(name).path
        let r = try TestEnvironment.run("ssh-keygen", ["-q", "-C", "t", "-f", path] + args)
        #expect(r.status == 0, "\(r.stderr)")
        return path
    }

    static func publicKey(_ path: String) throws -> String {
        try String(contentsOfFile: path + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
    }

    @Test(arguments: [["-t", "ed25519"], ["-t", "ecdsa", "-b", "256"], ["-t", "ecdsa", "-b", "384"], ["-t", "ecdsa", "-b", "521"]])
    func opensshKeys(type: [String]) throws {
        let dir = try TestEnvironment.temporaryDirectory("keys")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.keygen(dir, "k", ["-N", ""] + type)
        let key = try SSHPrivateKeyFile.load(path: path)
        #expect(String(openSSHPublicKey: key.publicKey) == (try Self.publicKey(path)))
    }

    @Test func refusedKeysSayWhy() throws {
        let dir = try TestEnvironment.temporaryDirectory("keys")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rsa = try Self.keygen(dir, "rsa", ["-N", "", "-t", "rsa", "-b", "2048"])
        let e1 = #expect(throws: SFTPError.self) { _ = try SSHPrivateKeyFile.load(path: rsa) }
        #expect(e1?.code == .invalidKey && e1?.message.contains("RSA") == true && e1?.message.contains(rsa) == true)
        let locked = try Self.keygen(dir, "locked", ["-N", "secret-passphrase", "-t", "ed25519"])
        let e2 = #expect(throws: SFTPError.self) { _ = try SSHPrivateKeyFile.load(path: locked) }
        #expect(e2?.message.contains("passphrase") == true && e2?.description.contains("secret-passphrase") == false)
        let e3 = #expect(throws: SFTPError.self) { _ = try SSHPrivateKeyFile.load(path: dir.appendingPathComponent("none").path) }
        #expect(e3?.code == .invalidKey)
        // PEM ECDSA (ssh-keygen -m PEM) too.
        let pem = try Self.keygen(dir, "pem", ["-N", "", "-t", "ecdsa", "-b", "256", "-m", "PEM"])
        #expect(String(openSSHPublicKey: try SSHPrivateKeyFile.load(path: pem).publicKey) == (try Self.publicKey(pem)))
    }

    @Test func knownHosts() throws {
        let dir = try TestEnvironment.temporaryDirectory("known-hosts")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try NIOSSHPublicKey(openSSHPublicKey: try Self.publicKey(try Self.keygen(dir, "a", ["-N", "", "-t", "ed25519"])))
        let b = try NIOSSHPublicKey(openSSHPublicKey: try Self.publicKey(try Self.keygen(dir, "b", ["-N", "", "-t", "ecdsa"])))
        let line = { (hosts: String, k: NIOSSHPublicKey) in "\(hosts) \(String(openSSHPublicKey: k)) comment" }
        let file = SSHKnownHosts(text: """
            # a comment
            \(line("[127.0.0.1]:2222,backup.example.com", a))
            \(line("*.corp.example,!evil.corp.example", b))
            @cert-authority *.x \(String(openSSHPublicKey: b))
            garbage line
            """)
        #expect(file.verdict(for: a, host: "127.0.0.1", port: 2222) == .known)
        #expect(file.verdict(for: a, host: "backup.example.com", port: 22) == .known)
        #expect(file.verdict(for: b, host: "127.0.0.1", port: 2222) == .mismatch)
        #expect(file.verdict(for: a, host: "127.0.0.1", port: 22) == .unknown)  // another port is another host
        #expect(file.verdict(for: b, host: "db.corp.example", port: 22) == .known)
        #expect(file.verdict(for: b, host: "evil.corp.example", port: 22) == .unknown)
        #expect(file.verdict(for: a, host: "other.x", port: 22) == .unknown)  // certificate authorities are not used

        // Hashed names, as `ssh-keygen -H` writes them.
        let path = dir.appendingPathComponent("known_hosts").path
        try (line("[10.1.2.3]:2200", a) + "\n" + line("other.example", b) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let r = try TestEnvironment.run("ssh-keygen", ["-H", "-f", path])
        #expect(r.status == 0, "\(r.stderr)")
        let hashed = try String(contentsOfFile: path, encoding: .utf8)
        #expect(hashed.hasPrefix("|1|") && !hashed.contains("10.1.2.3"))
        let known = try SSHKnownHosts(path: path)
        #expect(known.verdict(for: a, host: "10.1.2.3", port: 2200) == .known)
        #expect(known.verdict(for: b, host: "10.1.2.3", port: 2200) == .mismatch)
        #expect(known.verdict(for: a, host: "10.1.2.4", port: 2200) == .unknown)
        // A revoked key is refused even where the host is listed with it.
        let revoked = SSHKnownHosts(text: line("h", a) + "\n@revoked " + line("h", a))
        #expect(revoked.verdict(for: a, host: "h", port: 22) == .mismatch)
        #expect(a.fingerprint.hasPrefix("SHA256:") && a.fingerprint.count == 50)
    }

    @Test func urls() throws {
        let c = try SFTPConfiguration.parse(url: "sftp://me:p%40ss@files.example:2022/backups/db")
        #expect(c.host == "files.example" && c.port == 2022 && c.user == "me" && c.password == "p@ss" && c.path == "/backups/db")
        #expect(c.description == "sftp://me@files.example:2022/backups/db" && !c.description.contains("p@ss"))
        let d = try SFTPConfiguration.parse(url: "sftp://me@[::1]/x?key-path=/k&host-key=ssh-ed25519%20AAAA&insecure-ignore-host-key=true")
        #expect(d.host == "::1" && d.port == 22 && d.keyPath == "/k" && d.hostKey == "ssh-ed25519 AAAA" && d.insecureIgnoreHostKey)
        #expect(throws: SFTPConfiguration.Invalid.self) { try SFTPConfiguration.parse(url: "sftp://host/path") }  // no user
        #expect(throws: SFTPConfiguration.Invalid.self) { try SFTPConfiguration.parse(url: "sftp://u@h/p?bogus=1") }
        let noCredential = #expect(throws: SFTPConfiguration.Invalid.self) { try SFTPConfiguration.parse(url: "sftp://u@h/p").validate() }
        #expect(noCredential?.description.contains("password") == true)
        // Without host-key: the known-hosts file, never "any key" unless asked.
        var e = d
        e.hostKey = nil
        #expect(try e.hostKeyPolicy(environment: [:]) == .acceptAny)
        #expect(throws: SFTPConfiguration.Invalid.self) { try d.hostKeyPolicy(environment: [:]) }  // "AAAA" is no key
        #expect(try c.hostKeyPolicy(environment: ["HOME": "/home/x"]) == .knownHosts(path: "/home/x/.ssh/known_hosts"))
    }

    @Test func configurationFile() throws {
        let yaml = """
            user: globaluser
            dbs:
              - path: /data/a.db
                replica:
                  type: sftp
                  host: backup.example:2222
                  password: hunter2-secret
                  path: /srv/replicas/a
                  concurrent-writes: false
              - path: /data/b.db
                replica:
                  url: sftp://u:urlpass-secret@h.example/b
                  key-path: /keys/id_ed25519
                  host-key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILmo/mzX2aLUaWm27SHXsrDzj9TlhhS6IqziH1Ls9+bv
            """
        let c = try LitestreamConfiguration.parse(yaml: yaml, environment: [:])
        let a = try c.databases[0].replicas[0].sftpConfiguration()
        #expect(a.host == "backup.example" && a.port == 2222 && a.user == "globaluser" && a.password == "hunter2-secret")
        #expect(a.path == "/srv/replicas/a" && a.concurrentWrites == false)
        let b = try c.databases[1].replicas[0].sftpConfiguration()
        #expect(b.host == "h.example" && b.user == "globaluser" && b.password == "urlpass-secret" && b.path == "/b")
        #expect(b.keyPath == "/keys/id_ed25519" && b.hostKey?.hasPrefix("ssh-ed25519 ") == true)
        #expect(try c.databases[1].replicas[0].makeClient() is SFTPReplicaClient)
        for text in [c.redactedYAML(), c.description, "\(c.databases)"] {
            #expect(!text.contains("hunter2-secret") && !text.contains("urlpass-secret"), "\(text)")
        }
        #expect(c.redactedYAML().contains("password: \"<redacted>\""))
        #expect(c.redactedYAML().contains("host: \"backup.example:2222\""))

        // As Litestream: a url excludes host and path, and a host needs a user.
        for bad in ["{url: 'sftp://u@h/p', host: h2}", "{url: 'sftp://u@h/p', path: /x}", "{type: sftp, host: h, path: /p, password: x}",
            "{type: sftp, user: u, path: /p, password: x}", "{type: sftp, host: h, user: u, path: /p}",
            "{type: sftp, host: h, user: u, password: x, host-key: not-a-key}"] {
            #expect(throws: ConfigurationError.self, "\(bad)") {
                _ = try LitestreamConfiguration.parse(yaml: "dbs:\n  - path: /a\n    replica: \(bad)\n", environment: [:])
            }
        }
    }
}
