import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamCore
@testable import LitestreamNATS

/// The NATS replica client against a real nats-server with JetStream: objects written, listed (with their
/// `Litestream-Timestamp`), read back across many chunks, deleted; and the start-up errors, each naming the server.
@Suite(.ownThreads, .enabled(if: NATSTestServer.enabled, "needs nats-server (scripts/test.sh installs it)"))
struct NATSReplicaClientTests {
    static func write(_ replica: NATSReplicaClient, level: Int, _ min: UInt64, _ max: UInt64, bytes: [UInt8], timestamp: Int64) async throws {
        try await replica.writeLTXFile(level: level, minTXID: TXID(min), maxTXID: TXID(max), timestamp: timestamp) { sink in
            // In pieces, as the encoder writes.
            var offset = 0
            while offset < bytes.count {
                let n = Swift.min(10_000, bytes.count - offset)
                try bytes[offset..<(offset + n)].withUnsafeBytes { try sink($0) }
                offset += n
            }
        }
    }

    static func read(_ replica: NATSReplicaClient, _ file: LTXFileInfo) async throws -> [UInt8] {
        let reader = try await replica.openLTXFile(file)
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    @Test func writeListReadDelete() async throws {
        let server = try NATSTestServer.start("nats-client")
        defer { server.stop() }
        try await server.createBucket("litestream")
        let replica = try server.replica(bucket: "litestream")
        try await replica.checkAccess()
        var g = SplitMix64(seed: 7)
        let big = (0..<(1 << 20) + 17).map { _ in UInt8(truncatingIfNeeded: g.next()) }  // 9 chunks
        let small = Array("a small file".utf8)
        try await Self.write(replica, level: 0, 1, 1, bytes: small, timestamp: 1_795_752_773_217)
        try await Self.write(replica, level: 0, 2, 2, bytes: [], timestamp: 1_795_752_774_000)
        try await Self.write(replica, level: 9, 1, 2, bytes: big, timestamp: 1_795_752_775_001)
        let l0 = try await replica.ltxFiles(level: 0)
        #expect(l0.map(\.name) == ["0000000000000001-0000000000000001.ltx", "0000000000000002-0000000000000002.ltx"])
        #expect(l0.map(\.createdAt) == [1_795_752_773_217, 1_795_752_774_000])
        #expect(l0.map(\.size) == [Int64(small.count), 0])
        let l9 = try #require(try await replica.ltxFiles(level: 9).first)
        #expect(l9.size == Int64(big.count) && l9.createdAt == 1_795_752_775_001)
        #expect(try await Self.read(replica, l9) == big)
        #expect(try await Self.read(replica, l0[0]) == small)
        #expect(try await Self.read(replica, l0[1]).isEmpty)
        #expect(try await replica.ltxFiles(level: 1).isEmpty)

        // Level 0 is exclusive: the same name again is another writer's file.
        await #expect(throws: ReplicaError.self) {
            try await Self.write(replica, level: 0, 1, 1, bytes: small, timestamp: 1)
        }
        // Other levels are replaced (compaction rewrites): the old chunks are purged.
        try await Self.write(replica, level: 9, 1, 2, bytes: small, timestamp: 1_795_752_776_000)
        let replaced = try #require(try await replica.ltxFiles(level: 9).first)
        #expect(try await Self.read(replica, replaced) == small)

        try await replica.deleteLTXFiles([l0[0]])
        #expect(try await replica.ltxFiles(level: 0).map(\.name) == ["0000000000000002-0000000000000002.ltx"])
        try await replica.deleteLTXFiles([l0[0]])  // already gone: not an error
        try await replica.deleteAll()
        for level in [0, 9] { #expect(try await replica.ltxFiles(level: level).isEmpty) }
        let counts = try #require(replica.requestCounts)
        #expect(counts.put == 5 && counts.get == 4 && counts.delete >= 3, "\(counts)")
        await replica.close()
    }

    @Test func missingBucketIsNamed() async throws {
        let server = try NATSTestServer.start("nats-nobucket")
        defer { server.stop() }
        let replica = try server.replica(bucket: "nosuch")
        await #expect {
            try await replica.checkAccess()
        } throws: { error in
            let e = error as? NATSError
            return e?.code == .bucketNotFound && "\(error)".contains("\"nosuch\"") && "\(error)".contains("127.0.0.1:\(server.port)")
        }
        await replica.close()
    }

    @Test func unreachableServerIsNamed() async throws {
        var c = NATSConfiguration(bucket: "b", host: "127.0.0.1", port: try TestEnvironment.freeLoopbackPort())
        c.maxReconnects = 0
        let replica = try NATSReplicaClient(configuration: c)
        await #expect {
            try await replica.checkAccess()
        } throws: { error in
            (error as? NATSError)?.code == .unreachable && "\(error)".contains("nats://127.0.0.1:\(c.port)")
                && "\(error)".contains("connection refused")
        }
    }

    @Test func userPasswordTokenAndNkeyLogins() async throws {
        let secret = "pw-\(UInt32.random(in: 0...UInt32.max))"
        let cases: [NATSTestServer.Auth] = [.userPassword("litestream", secret), .token(secret), .nkey(publicKey: NATSTestServer.nkeyPublic)]
        for auth in cases {
            let server = try NATSTestServer.start("nats-auth", auth: auth)
            defer { server.stop() }
            try await server.createBucket("b")
            let good = try server.replica(bucket: "b")
            try await good.checkAccess()
            try await Self.write(good, level: 0, 1, 1, bytes: [1, 2, 3], timestamp: 1000)
            #expect(try await good.ltxFiles(level: 0).count == 1)
            await good.close()

            var wrong = server.configuration(bucket: "b")
            switch auth {
            case .userPassword: wrong.password = "WRONG-\(secret)"
            case .token: wrong.token = "WRONG-\(secret)"
            case .nkey: wrong.nkey = NKeyTests.goldens[1].seed  // a key the server does not list
            case .none, .operatorJWT: break
            }
            let bad = try NATSReplicaClient(configuration: wrong)
            await #expect {
                try await bad.checkAccess()
            } throws: { error in
                (error as? NATSError)?.code == .authenticationFailed && "\(error)".contains("127.0.0.1:\(server.port)")
                    && !"\(error)".contains(secret) && !"\(error)".contains(NKeyTests.goldens[1].seed)
            }
        }
    }

    /// Mutual TLS: the server (nats-server's `tls` with `verify: true`) is checked against `root-cas`, and it checks
    /// our `client-cert`. Without the CA the handshake fails, and the error says TLS.
    @Test func mutualTLS() async throws {
        let server = try NATSTestServer.start("nats-tls", tls: true)
        defer { server.stop() }
        try await server.createBucket("secure")
        let replica = try server.replica(bucket: "secure")
        try await replica.checkAccess()
        try await Self.write(replica, level: 0, 1, 1, bytes: Array("over TLS".utf8), timestamp: 5000)
        let file = try #require(try await replica.ltxFiles(level: 0).first)
        #expect(try await Self.read(replica, file) == Array("over TLS".utf8))
        await replica.close()

        var untrusted = server.configuration(bucket: "secure")
        untrusted.rootCAs = []
        untrusted.maxReconnects = 0
        await #expect {
            try await NATSReplicaClient(configuration: untrusted).checkAccess()
        } throws: { error in
            (error as? NATSError)?.code == .unreachable && "\(error)".contains("127.0.0.1:\(server.port)")
        }
    }

    /// JWT logins against a server in operator mode: the user's `creds` file, and the same JWT and seed given as
    /// `jwt` and `seed`; a JWT whose seed does not match is refused.
    @Test func operatorModeJWTLogins() async throws {
        let setup = try NATSOperatorSetup()
        let server = try NATSTestServer.start("nats-jwt", auth: .operatorJWT(setup))
        defer { server.stop() }
        try await server.createBucket("jwt")
        let creds = try server.replica(bucket: "jwt")
        try await creds.checkAccess()
        try await Self.write(creds, level: 0, 1, 1, bytes: [9, 9], timestamp: 1000)
        await creds.close()

        var keys = NATSConfiguration(bucket: "jwt", host: "127.0.0.1", port: server.port)
        (keys.jwt, keys.seed) = (setup.userJWT, setup.userSeed)
        let direct = try NATSReplicaClient(configuration: keys)
        #expect(try await direct.ltxFiles(level: 0).count == 1)
        await direct.close()

        keys.seed = NKeyTests.goldens[0].seed  // another key than the JWT's
        keys.maxReconnects = 0
        await #expect {
            try await NATSReplicaClient(configuration: keys).checkAccess()
        } throws: { error in
            (error as? NATSError)?.code == .authenticationFailed && "\(error)".contains("the jwt and seed")
                && !"\(error)".contains(NKeyTests.goldens[0].seed) && !"\(error)".contains(setup.userJWT)
        }
    }
}
