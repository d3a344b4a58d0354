import AsyncHTTPClient
import Foundation
import LTX
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// A real `ReplicationServer` with file replicas, driven through the control socket the CLI uses.
@Suite struct ControlServerTests {
    struct Fixture {
        let dir: URL
        let socketDir: String
        var socketPath: String { socketDir + "/c.sock" }
        func dbPath(_ name: String) -> String { dir.appendingPathComponent("\(name).db").path }
        func replicaPath(_ name: String) -> String { dir.appendingPathComponent("\(name)-replica").path }

        init(_ name: String) throws {
            dir = try TestEnvironment.temporaryDirectory("control-\(name)")
            // Socket paths are limited to ~100 bytes: keep it short.
            var template = Array("/tmp/lsc-XXXXXX".utf8CString)
            socketDir = String(cString: mkdtemp(&template)!)
        }

        func makeDatabase(_ name: String) throws -> TestDatabase {
            let db = try TestDatabase(path: dbPath(name))
            try db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
            return db
        }

        static func configuration(path: String, replica: String) -> Replicator.Configuration {
            var c = Replicator.Configuration(database: .init(path: path), replica: FileReplicaClient(path: replica))
            c.minSyncInterval = .milliseconds(5)
            c.monitorInterval = .milliseconds(100)
            return c
        }

        func configuration(_ name: String) -> Replicator.Configuration {
            Self.configuration(path: dbPath(name), replica: replicaPath(name))
        }

        /// Runs a replication server over `databases` and a control server on `socketPath` around `body`.
        func withServers(_ databases: [Replicator.Configuration], permissions: mode_t = 0o600,
                         _ body: (ReplicationServer, ControlClient) async throws -> Void) async throws {
            let server = ReplicationServer()
            let control = ControlServer(
                configuration: .init(path: socketPath, permissions: permissions, version: "test-1", configPath: "/etc/x.yml"),
                server: server,
                makeConfiguration: { path, url in
                    guard let url, url.hasPrefix("file://") else { throw ControlTestError(description: "need a file:// replica") }
                    return Self.configuration(path: path, replica: String(url.dropFirst("file://".count)))
                })
            databases.forEach { server.register($0) }
            try await withServices([control, server]) {
                // Generous: the whole suite runs in parallel on two cores.
                let client = ControlClient(socketPath: socketPath, timeout: .seconds(60))
                try await waitFor("the socket") { (try? await client.info()) != nil }
                try await body(server, client)
            }
        }
    }

    struct ControlTestError: Error, CustomStringConvertible { var description: String }

    static func waitFor(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        try await MultiReplicaTests.waitFor(what, timeout: timeout, condition)
    }

    static func replicaMaxTXID(_ path: String) async throws -> TXID {
        let client = FileReplicaClient(path: path)
        var best = TXID.zero
        for level in 0...9 {
            for f in try await client.ltxFiles(level: level) where f.maxTXID > best { best = f.maxTXID }
        }
        return best
    }

    @Test(.timeLimit(.minutes(3))) func infoListStatusAndSyncWait() async throws {
        let f = try Fixture("endpoints")
        let app = try f.makeDatabase("a")
        try app.exec("INSERT INTO t (v) VALUES ('first')")
        try await f.withServers([f.configuration("a")]) { server, client in
            let info = try await client.info()
            #expect(info.version == "test-1")
            #expect(info.pid == getpid())
            #expect(info.configPath == "/etc/x.yml")
            #expect(info.databases == 1)
            #expect(info.socketPath == f.socketPath)

            let list = try await client.list()
            #expect(list.map(\.path) == [absolutePath(f.dbPath("a"))])
            #expect(list.first?.replicas.map(\.type) == ["file"])

            try await Self.waitFor("the replicator to run") { server.monitor(for: f.dbPath("a"))?.isRunning == true }
            for i in 1...5 { try app.exec("INSERT INTO t (v) VALUES ('row \(i) \(String(repeating: "x", count: 3000))')") }
            let results = try await client.sync(path: f.dbPath("a"), wait: true, timeout: .seconds(30))
            #expect(results.count == 1)
            let txid = results[0].txid
            #expect(txid > .zero)
            // -wait returns only once the replica's files hold that TXID.
            #expect(try await Self.replicaMaxTXID(f.replicaPath("a")) >= txid)
            #expect(try await MultiReplicaTests.restoreDigest(FileReplicaClient(path: f.replicaPath("a")), dir: f.dir)
                == TestDatabase.contentDigest(path: f.dbPath("a")))

            let status = try await client.status(path: f.dbPath("a"))
            #expect(status.localTXID >= txid)
            #expect(status.replicas.first?.txid ?? .zero >= txid)
            #expect(status.replicas.first?.uploadBytes ?? 0 > 0)
            #expect(status.syncCount > 0)

            // Every running database without a path.
            let all = try await client.sync(path: nil)
            #expect(all.map(\.path) == [absolutePath(f.dbPath("a"))])

            // Unknown database, unknown endpoint, bad timeout.
            await #expect(throws: ControlClient.Failure.self) { try await client.status(path: f.dbPath("nope")) }
            let (code, _) = try await client.raw("GET", "/nope")
            #expect(code == 404)
            let (code2, body2) = try await client.raw("POST", "/sync", ["path": f.dbPath("a"), "timeout": "soon"])
            #expect(code2 == 400)
            #expect(String(decoding: body2, as: UTF8.self).contains("\"error\""))
            let (code3, _) = try await client.raw("GET", "/sync", ["path": f.dbPath("a")])
            #expect(code3 == 405)
            do {
                _ = try await client.sync(path: f.dbPath("nope"))
                Issue.record("sync of an unknown database succeeded")
            } catch ControlClient.Failure.server(let status, _) {
                #expect(status == 404)
            }
        }
    }

    /// A `list` answer far larger than the socket's buffer arrives whole: the server closed the connection as soon
    /// as the answer was handed to the channel, which dropped what the kernel had not taken yet (at 10,000
    /// databases `list` failed with invalid JSON).
    @Test(.timeLimit(.minutes(3))) func aLargeAnswerArrivesWhole() async throws {
        let f = try Fixture("large")
        // Databases not created yet (their replicators wait for the file): cheap, with long paths, ~3 MB of JSON.
        let long = (0..<8).map { "\($0)" + String(repeating: "d", count: 200) }.joined(separator: "/")
        let databases = (0..<600).map { i -> Replicator.Configuration in
            var c = Fixture.configuration(path: f.dir.path + "/" + long + "/db-\(i).db", replica: f.replicaPath("r\(i)"))
            c.monitorInterval = .seconds(30)
            return c
        }
        try await f.withServers(databases) { _, client in
            for _ in 0..<3 {
                let list = try await client.list()
                #expect(list.count == databases.count)
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func stopStartRegisterUnregister() async throws {
        let f = try Fixture("lifecycle")
        let a = try f.makeDatabase("a")
        let b = try f.makeDatabase("b")
        try a.exec("INSERT INTO t (v) VALUES ('a')")
        try b.exec("INSERT INTO t (v) VALUES ('b')")
        try await f.withServers([f.configuration("a")]) { server, client in
            try await Self.waitFor("a running") { server.monitor(for: f.dbPath("a"))?.isRunning == true }

            #expect(try await client.stop(path: f.dbPath("a")).status == "stopped")
            try await Self.waitFor("a stopped") { server.monitor(for: f.dbPath("a"))?.isRunning != true }
            #expect(try await client.status(path: f.dbPath("a")).lastError == "stopped")
            do {
                _ = try await client.stop(path: f.dbPath("a"))
                Issue.record("stopping a stopped database succeeded")
            } catch ControlClient.Failure.server(let status, _) { #expect(status == 409) }
            do {
                _ = try await client.sync(path: f.dbPath("a"), timeout: .seconds(2))
                Issue.record("syncing a stopped database succeeded")
            } catch ControlClient.Failure.server(let status, _) { #expect(status == 409) }

            #expect(try await client.start(path: f.dbPath("a")).status == "started")
            try await Self.waitFor("a running again") { server.monitor(for: f.dbPath("a"))?.isRunning == true }
            try a.exec("INSERT INTO t (v) VALUES ('after restart')")
            let txid = try await client.sync(path: f.dbPath("a"), wait: true)[0].txid
            #expect(try await Self.replicaMaxTXID(f.replicaPath("a")) >= txid)

            // Register b at runtime with a replica URL; the server builds its configuration.
            #expect(try await client.register(path: f.dbPath("b"), replica: "file://" + f.replicaPath("b")).status == "registered")
            #expect(try await client.list().count == 2)
            try await Self.waitFor("b running") { server.monitor(for: f.dbPath("b"))?.isRunning == true }
            let tb = try await client.sync(path: f.dbPath("b"), wait: true)[0].txid
            #expect(try await Self.replicaMaxTXID(f.replicaPath("b")) >= tb)
            do {
                _ = try await client.register(path: f.dbPath("b"), replica: "file://" + f.replicaPath("b"))
                Issue.record("registering a running database twice succeeded")
            } catch ControlClient.Failure.server(let status, _) { #expect(status == 409) }
            do {
                _ = try await client.register(path: f.dbPath("c"), replica: "s3://bucket/x")
                Issue.record("a refused configuration was registered")
            } catch ControlClient.Failure.server(let status, let message) {
                #expect(status == 400)
                #expect(message.contains("file://"))
            }

            #expect(try await client.unregister(path: f.dbPath("b")).status == "unregistered")
            #expect(try await client.list().map(\.path) == [absolutePath(f.dbPath("a"))])
            do {
                _ = try await client.unregister(path: f.dbPath("b"))
                Issue.record("unregistering an unknown database succeeded")
            } catch ControlClient.Failure.server(let status, _) { #expect(status == 404) }
        }
    }

    @Test(.timeLimit(.minutes(2))) func socketFileModeStaleAndCleanup() async throws {
        let f = try Fixture("socket")
        // A stale socket file (its server is gone) is replaced.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(f.socketPath.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(stale)
        #expect(FileManager.default.fileExists(atPath: f.socketPath))

        try await f.withServers([]) { _, client in
            var st = stat()
            #expect(lstat(f.socketPath, &st) == 0)
            #expect(st.st_mode & S_IFMT == S_IFSOCK)
            #expect(st.st_mode & 0o777 == 0o600)
            // No private directory is left beside it.
            let names = try FileManager.default.contentsOfDirectory(atPath: f.socketDir)
            #expect(names == ["c.sock"])
            let listed = try await client.list()
            #expect(listed.isEmpty)
            // A second server on the same live socket is refused.
            let second = ControlServer(configuration: .init(path: f.socketPath), server: ReplicationServer())
            await #expect(throws: SystemError.self) { try await second.run() }
            #expect(try await client.info().databases == 0)
        }
        // Removed at stop.
        #expect(!FileManager.default.fileExists(atPath: f.socketPath))

        // A path holding something else than a socket is never replaced.
        #expect(FileManager.default.createFile(atPath: f.socketPath, contents: Data("keep".utf8)))
        let control = ControlServer(configuration: .init(path: f.socketPath), server: ReplicationServer())
        await #expect(throws: SystemError.self) { try await control.run() }
        #expect(FileManager.default.contents(atPath: f.socketPath) == Data("keep".utf8))
    }

    @Test(.timeLimit(.minutes(3))) func prometheusMetricsAfterWrites() async throws {
        let f = try Fixture("metrics")
        let app = try f.makeDatabase("a")
        try await f.withServers([f.configuration("a")]) { server, client in
            try await Self.waitFor("a running") { server.monitor(for: f.dbPath("a"))?.isRunning == true }
            for i in 1...10 { try app.exec("INSERT INTO t (v) VALUES ('\(i)')") }
            let txid = try await client.sync(path: f.dbPath("a"), wait: true)[0].txid
            let port = Mutex<Int?>(nil)
            let metrics = MetricsServer(address: "127.0.0.1:0", server: server, onListening: { p in port.withLock { $0 = p } })
            try await withServices([metrics]) {
                try await Self.waitFor("the metrics port") { port.withLock { $0 } != nil }
                let url = "http://127.0.0.1:\(port.withLock { $0 }!)/metrics"
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
                #expect(response.status == .ok)
                #expect(response.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
                let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                let db = absolutePath(f.dbPath("a"))
                let status = try #require(server.statuses().first)
                #expect(text.contains("# TYPE litestream_db_txid gauge"))
                #expect(text.contains("litestream_db_txid{db=\"\(db)\"} \(status.localTXID.rawValue)\n"))
                #expect(status.localTXID >= txid)
                #expect(text.contains("litestream_replica_txid{db=\"\(db)\",replica=\"file\",type=\"file\"} \(status.replicas[0].txid.rawValue)\n"))
                #expect(text.contains("litestream_replica_lag_seconds{db=\"\(db)\",replica=\"file\",type=\"file\"} "))
                #expect(text.contains("# TYPE litestream_sync_count counter"))
                #expect(text.contains("litestream_sync_count{db=\"\(db)\"} \(status.syncCount)\n") || status.syncCount > 0)
                #expect(text.contains("litestream_sync_error_count{db=\"\(db)\"} 0\n"))
                #expect(text.contains("litestream_replica_error_count{db=\"\(db)\",replica=\"file\",type=\"file\"} 0\n"))
                let uploaded = text.split(separator: "\n").first { $0.hasPrefix("litestream_upload_bytes{") }
                    .flatMap { Int64($0.split(separator: " ").last!) } ?? 0
                #expect(uploaded > 0)
                let notFound = try await HTTPClient.shared.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port.withLock { $0 }!)/other"), timeout: .seconds(10))
                #expect(notFound.status == .notFound)
            }
        }
    }

    /// #19.7: with the socket widened to 0666, another local user may read status but may not register a database
    /// it cannot read to a replica of its own, nor stop, start or unregister one. Needs root and `runuser`.
    @Test(.timeLimit(.minutes(3))) func widenedSocketRefusesDataCommandsToOtherUsers() async throws {
        let (runuser, python) = ("/usr/sbin/runuser", "/usr/bin/python3")
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: runuser),
            FileManager.default.isExecutableFile(atPath: python) else { return }
        let f = try Fixture("peer")
        _ = try f.makeDatabase("a")
        let secret = try f.makeDatabase("secret")
        try secret.exec("INSERT INTO t (v) VALUES ('only root reads this')")
        chmod(f.dbPath("secret"), 0o600)
        chmod(f.socketDir, 0o755)
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); body = sys.argv[4].encode()
            s.sendall(f"{sys.argv[2]} {sys.argv[3]} HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n".encode() + body)
            print(s.makefile("rb").read().decode())
            """
        try await f.withServers([f.configuration("a")], permissions: 0o666) { _, client in
            func asNobody(_ method: String, _ route: String, _ body: String = "") async throws -> String {
                let r = try await Integration.runProcess(runuser, ["-u", "nobody", "--", python, "-c", script, f.socketPath, method, route, body])
                return r.stdout + r.stderr
            }
            #expect(try await asNobody("GET", "/list").hasPrefix("HTTP/1.1 200"))
            let register = try await asNobody("POST", "/register", #"{"path": "\#(f.dbPath("secret"))", "replica": "file://\#(f.replicaPath("stolen"))"}"#)
            #expect(register.hasPrefix("HTTP/1.1 403"), "\(register)")
            #expect(register.contains("register refused: the caller (uid 65534) is neither root nor the user running litestream"))
            let a = absolutePath(f.dbPath("a")).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            for route in ["/stop", "/start", "/unregister"] {
                let answer = try await asNobody("POST", "\(route)?path=\(a)")
                #expect(answer.hasPrefix("HTTP/1.1 403"), "\(route): \(answer)")
            }
            #expect(try await client.list().map(\.path) == [absolutePath(f.dbPath("a"))])
            #expect(!FileManager.default.fileExists(atPath: f.replicaPath("stolen")))
        }
    }

    @Test func metricsAddresses() throws {
        #expect(try MetricsServer.parse(":9090") == ("0.0.0.0", 9090))
        #expect(try MetricsServer.parse("127.0.0.1:9091") == ("127.0.0.1", 9091))
        #expect(try MetricsServer.parse("[::1]:9092") == ("::1", 9092))
        #expect(throws: MetricsServer.InvalidAddress.self) { try MetricsServer.parse("localhost") }
    }

    @Test func heartbeatHealthAndRedaction() {
        var s = ReplicationStatus(path: "/db", localTXID: 5, replicas: [ReplicaStatus(name: "file", type: "file", location: "/r")])
        s.lastSyncAt = 100_000
        s.replicas[0].positionKnown = true
        s.replicas[0].txid = 5
        #expect(Heartbeat.isHealthy([s], interval: .seconds(60), now: 130_000))
        #expect(!Heartbeat.isHealthy([s], interval: .seconds(60), now: 200_000))  // no sync within the interval
        #expect(!Heartbeat.isHealthy([], interval: .seconds(60), now: 130_000))
        var lagging = s
        lagging.replicas[0].lagSeconds = 90
        #expect(!Heartbeat.isHealthy([lagging], interval: .seconds(60), now: 130_000))
        var failing = s
        failing.lastError = "stopped"
        #expect(!Heartbeat.isHealthy([failing], interval: .seconds(60), now: 130_000))
        #expect(Heartbeat.redacted("https://user:secret@hc-ping.com/uuid?key=abc") == "https://hc-ping.com/uuid")
        #expect(Heartbeat.redacted("https://hc-ping.com/uuid") == "https://hc-ping.com/uuid")
        #expect(Heartbeat(url: "http://x", interval: .seconds(5), server: ReplicationServer()).interval == .seconds(60))
    }

    @Test(.timeLimit(.minutes(3))) func heartbeatPingsOnlyWhenHealthy() async throws {
        let f = try Fixture("heartbeat")
        let app = try f.makeDatabase("a")
        try app.exec("INSERT INTO t (v) VALUES ('x')")
        let hits = Mutex<[String]>([])
        let receiver = try await PingReceiver.start { uri in hits.withLock { $0.append(uri) } }
        defer { receiver.close() }
        let url = "http://user:pw@127.0.0.1:\(receiver.port)/ping/abc?token=secret"

        // No databases: never healthy, never pinged.
        let empty = ReplicationServer()
        let outcomes = Mutex<[Bool]>([])
        let idle = Heartbeat(url: url, exactInterval: .milliseconds(100), server: empty, logger: .init(label: "t"),
                             onPing: { ok in outcomes.withLock { $0.append(ok) } })
        try await withServices([idle]) {
            try? await Self.waitFor("three checks") { outcomes.withLock { $0.count } >= 3 }
        }
        #expect(outcomes.withLock { $0.allSatisfy { !$0 } })
        #expect(hits.withLock { $0.isEmpty })

        // A replicating, current database: pinged.
        try await f.withServers([f.configuration("a")]) { server, client in
            try await Self.waitFor("a running") { server.monitor(for: f.dbPath("a"))?.isRunning == true }
            _ = try await client.sync(path: f.dbPath("a"), wait: true)
            let ok = Mutex(0)
            let beat = Heartbeat(url: url, exactInterval: .seconds(2), server: server, logger: .init(label: "t"),
                                 onPing: { sent in if sent { ok.withLock { $0 += 1 } } })
            try await withServices([beat]) {
                // Keep it syncing so that lastSyncAt stays within the interval.
                try? await Self.waitFor("a ping") {
                    try? app.exec("INSERT INTO t (v) VALUES ('tick')")
                    return ok.withLock { $0 } >= 1
                }
            }
        }
        #expect(hits.withLock { $0.first } == "/ping/abc?token=secret")
    }
}

/// A tiny HTTP server that answers 200 to anything and reports each request's URI.
final class PingReceiver: Sendable {
    let channel: any Channel
    let port: Int

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    static func start(_ onRequest: @escaping @Sendable (String) -> Void) async throws -> PingReceiver {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    try child.pipeline.syncOperations.addHandler(Handler(onRequest: onRequest))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return PingReceiver(channel: channel)
    }

    func close() { channel.close(promise: nil) }

    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let onRequest: @Sendable (String) -> Void
        init(onRequest: @escaping @Sendable (String) -> Void) { self.onRequest = onRequest }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): onRequest(head.uri)
            case .body: break
            case .end:
                var headers = HTTPHeaders()
                headers.add(name: "Content-Length", value: "2")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "OK")))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
