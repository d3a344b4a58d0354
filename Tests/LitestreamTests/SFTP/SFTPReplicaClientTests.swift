import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamCore
@testable import LitestreamSFTP

/// The SFTP replica client against a real OpenSSH server on loopback: layout, modification times, atomic
/// replacement, pipelined transfers, deletes, and the start-up errors a user meets.
@Suite(.serialized, .enabled(if: SSHTestServer.enabled, "needs /usr/sbin/sshd (scripts/test.sh installs openssh-server)"))
struct SFTPReplicaClientTests {
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    static func write(_ client: SFTPReplicaClient, level: Int, min: UInt64, max: UInt64, timestamp: Int64, _ data: [UInt8])
        async throws -> LTXFileInfo
    {
        try await client.writeLTXFile(level: level, minTXID: TXID(min), maxTXID: TXID(max), timestamp: timestamp) { sink in
            // In uneven pieces, as an encoder writes.
            var i = 0
            while i < data.count {
                let n = Swift.min(data.count - i, 7_001)
                try data[i..<i + n].withUnsafeBytes { try sink($0) }
                i += n
            }
        }
    }

    static func read(_ client: SFTPReplicaClient, _ file: LTXFileInfo) async throws -> [UInt8] {
        let reader = try await client.openLTXFile(file)
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    @Test func writeListReadReplaceDelete() async throws {
        let server = try SSHTestServer.start()
        defer { server.stop() }
        let client = try server.replica(path: "a/b")
        #expect(try await client.ltxFiles(level: 0).isEmpty)  // nothing there yet, not even the directory

        let ts: Int64 = 1_764_000_000_123
        let small = Self.bytes(100, seed: 1)
        let big = Self.bytes(3 << 20 + 12_345, seed: 2)  // many chunks, an uneven last one
        let f1 = try await Self.write(client, level: 0, min: 1, max: 1, timestamp: ts, small)
        let f2 = try await Self.write(client, level: 0, min: 2, max: 2, timestamp: ts + 2_000, small)
        let f9 = try await Self.write(client, level: 9, min: 1, max: 2, timestamp: ts + 5_000, big)
        #expect(f9.size == Int64(big.count))

        // Litestream's layout: <path>/ltx/<level>/<min>-<max>.ltx, mtime = the LTX timestamp (whole seconds).
        let dir = "\(server.root)/a/b/ltx"
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/0").sorted()
            == ["0000000000000001-0000000000000001.ltx", "0000000000000002-0000000000000002.ltx"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/9") == ["0000000000000001-0000000000000002.ltx"])
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(dir)/0/0000000000000002-0000000000000002.ltx")
        #expect((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 == TimeInterval((ts + 2_000) / 1000))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)

        let l0 = try await client.ltxFiles(level: 0)
        #expect(l0.map(\.name) == [f1.name, f2.name])
        #expect(l0.map(\.createdAt) == [ts / 1000 * 1000, (ts + 2_000) / 1000 * 1000])
        #expect(l0.map(\.size) == [100, 100])
        #expect(try await Self.read(client, f1) == small)
        let l9 = try #require(try await client.ltxFiles(level: 9).first)
        #expect(try await Self.read(client, l9) == big)

        // The same name again replaces the file (a retried upload whose first answer was lost).
        let other = Self.bytes(200, seed: 3)
        _ = try await Self.write(client, level: 0, min: 2, max: 2, timestamp: ts + 3_000, other)
        #expect(try await Self.read(client, try #require(try await client.ltxFiles(level: 0).last)) == other)
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/0").allSatisfy { $0.hasSuffix(".ltx") })

        try await client.deleteLTXFiles([f1, f1])  // twice: a file already gone is not an error
        #expect(try await client.ltxFiles(level: 0).map(\.name) == [f2.name])
        let counts = try #require(client.requestCounts)
        #expect(counts.put == 4 && counts.delete == 2 && counts.get == 3, "\(counts)")
        try await client.deleteAll()
        #expect(!FileManager.default.fileExists(atPath: "\(server.root)/a/b"))
        await client.close()
    }

    @Test func reconnectsAfterTheServerRestarts() async throws {
        let server = try SSHTestServer.start()
        defer { server.stop() }
        let client = try server.replica()
        let f = try await Self.write(client, level: 0, min: 1, max: 1, timestamp: 1_000, Self.bytes(10, seed: 4))
        server.kill()
        // Down: a connection cannot be made; the error names the endpoint.
        var fast = client
        fast.retryDelays = []
        let down = await #expect(throws: SFTPError.self) { _ = try await fast.ltxFiles(level: 0) }
        #expect(down?.code == .unreachable && down?.description.contains("127.0.0.1:\(server.port)") == true, "\(String(describing: down))")
        try server.up()
        #expect(try await client.ltxFiles(level: 0) == [f])
    }

    @Test func startUpErrorsNameTheEndpointAndTheCause() async throws {
        let server = try SSHTestServer.start()
        defer { server.stop() }
        let endpoint = "\(server.user)@127.0.0.1:\(server.port)"
        func failure(_ configure: (inout SFTPConfiguration) -> Void) async -> SFTPError? {
            var c = server.configuration()
            configure(&c)
            guard var client = try? SFTPReplicaClient(configuration: c, environment: ["HOME": server.dir.path]) else { return nil }
            client.retryDelays = []
            return await #expect(throws: SFTPError.self) { try await client.checkAccess() }
        }
        // A key the server does not authorize.
        let auth = await failure { $0.keyPath = server.strangerKeyPath }
        #expect(auth?.code == .authenticationFailed && auth?.description.contains(endpoint) == true, "\(String(describing: auth))")
        // host-key set to another key.
        let strangerKey = try SSHKeyTests.publicKey(server.strangerKeyPath)
        let mismatch = await failure { $0.hostKey = strangerKey }
        #expect(mismatch?.code == .hostKeyMismatch && mismatch?.description.contains(endpoint) == true, "\(String(describing: mismatch))")
        #expect(mismatch?.description.contains(server.hostKey) == true, "the error shows the presented key")
        // No host-key, and a known-hosts file that lists another key for the server: refused.
        let changed = server.dir.appendingPathComponent("changed_hosts").path
        try "[127.0.0.1]:\(server.port) \(strangerKey)\n".write(toFile: changed, atomically: true, encoding: .utf8)
        let changedError = await failure { $0.hostKey = nil; $0.knownHostsPath = changed }
        #expect(changedError?.code == .hostKeyMismatch, "\(String(describing: changedError))")
        // No host-key and the default known-hosts file ($HOME/.ssh/known_hosts, missing here): unknown, refused.
        let unknown = await failure { $0.hostKey = nil }
        #expect(unknown?.code == .hostKeyUnknown && unknown?.description.contains("insecure-ignore-host-key") == true,
            "\(String(describing: unknown))")
        // ...unless the configuration says to accept any key (Litestream 0.5.17's way), or the file lists it.
        var accepting = server.configuration()
        accepting.hostKey = nil
        accepting.insecureIgnoreHostKey = true
        try await SFTPReplicaClient(configuration: accepting).checkAccess()
        accepting.insecureIgnoreHostKey = false
        accepting.knownHostsPath = server.knownHostsPath
        accepting.keyPath = server.ecdsaKeyPath  // and an ECDSA key logs in too
        try await SFTPReplicaClient(configuration: accepting).checkAccess()
        // The replica path exists as a file.
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(server.root)/plain"))
        let notDir = await failure { $0.path = "\(server.root)/plain" }
        #expect(notDir?.description.contains("not a directory") == true && notDir?.description.contains(endpoint) == true)
        // Nobody listening.
        let closedPort = try TestEnvironment.freeLoopbackPort()
        let unreachable = await failure { $0.port = closedPort }
        #expect(unreachable?.code == .unreachable && unreachable?.description.contains("127.0.0.1:\(closedPort)") == true,
            "\(String(describing: unreachable))")
    }
}
