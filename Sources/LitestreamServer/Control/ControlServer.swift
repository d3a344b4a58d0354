public import LitestreamClient
public import LitestreamCore
import Foundation
import LTX
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

/// The control socket of a running `replicate`: HTTP/1.1 over a Unix domain socket, as Litestream 0.5's
/// `socket:` setting, serving a `ReplicationServer`.
///
/// | Request | Answer |
/// |---|---|
/// | `GET /info` | `ControlInfo` |
/// | `GET /list` | `[ReplicationStatus]`, every database |
/// | `GET /status?path=` | one `ReplicationStatus` |
/// | `POST /sync?path=&wait=true&timeout=30s` | `ControlSyncResult` (without `path`: one per running database) |
/// | `POST /start?path=`, `/stop?path=`, `/unregister?path=` | `ControlActionResult` |
/// | `POST /register` with `{"path": …, "replica": "file:///…"}` | `ControlActionResult` |
///
/// Errors are `{"error": "…"}` with 400 (bad request), 404 (unknown database or route), 409 (already
/// running/stopped, not running), 504 (sync timeout) or 500.
///
/// The socket file never exists with wider permissions than configured: it is bound inside a private (0700)
/// directory, chmod-ed, then renamed into place. A stale socket (nobody accepting) is replaced; a live one is an
/// error, so two servers never share a path. The file is removed when `run` returns.
public struct ControlServer: Service {
    public struct Configuration: Sendable {
        /// The socket path (Litestream's default is /var/run/litestream.sock).
        public var path: String
        /// The socket file's mode.
        public var permissions: mode_t
        /// Reported by `/info`.
        public var version: String
        /// Reported by `/info`.
        public var configPath: String?

        /// - Parameters:
        ///   - path: the socket path.
        ///   - permissions: the socket file's mode.
        ///   - version: reported by `/info`.
        ///   - configPath: reported by `/info`.
        public init(path: String = "/var/run/litestream.sock", permissions: mode_t = 0o600,
                    version: String = "unknown", configPath: String? = nil) {
            self.path = path
            self.permissions = permissions
            self.version = version
            self.configPath = configPath
        }
    }

    /// Builds the replication of a database registered over the socket: its path and the replica URL given in
    /// the request (nil if none was given). Throws to refuse it (the message goes back to the client as a 400).
    public typealias MakeConfiguration = @Sendable (_ path: String, _ replicaURL: String?) throws -> Replicator.Configuration

    public let configuration: Configuration
    private let server: ReplicationServer
    private let makeConfiguration: MakeConfiguration?
    private let logger: Logger
    private let startedAt = POSIX.nowMilliseconds()

    /// - Parameters:
    ///   - configuration: the socket and what `/info` reports.
    ///   - server: the databases it serves.
    ///   - makeConfiguration: builds a database registered over the socket; nil refuses registrations.
    ///   - logger: where it reports what it does.
    public init(configuration: Configuration, server: ReplicationServer,
                makeConfiguration: MakeConfiguration? = nil, logger: Logger = Logger(label: "litestream")) {
        self.configuration = configuration
        self.server = server
        self.makeConfiguration = makeConfiguration
        self.logger = logger
    }

    /// Serves until graceful shutdown (or cancellation); requests in flight (a `sync -wait`) are cancelled then.
    ///
    /// - Throws: when the socket cannot be bound.
    public func run() async throws {
        let channel = try await bind()
        defer { _ = unlink(configuration.path) }
        logger.info("control socket listening", metadata: ["path": "\(configuration.path)"])
        await serveConnections(of: channel, logger: logger, failure: "control socket failed") {
            await self.serve($0)
        }
    }

    // MARK: socket file

    private typealias Connection = HTTPConnection

    private func bind() async throws -> NIOAsyncChannel<Connection, Never> {
        let path = configuration.path
        try Self.removeStaleSocket(at: path)
        // Bind in a private directory beside the target (same file system, so the rename is atomic), so that
        // the socket is reachable by nobody else until it has its final mode.
        let dir = POSIX.dirname(absolutePath(path))
        var template = Array("\(dir)/.litestream-sock-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw SystemError(operation: "mkdtemp", path: dir, errno: errno)
        }
        let privateDir = String(cString: made)
        defer { _ = rmdir(privateDir) }
        let temporary = privateDir + "/s"
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 128)
            .bind(unixDomainSocketPath: temporary) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try Connection(wrappingChannelSynchronously: child)
                }
            }
        do {
            try POSIX.check(chmod(temporary, configuration.permissions), "chmod", temporary)
            try POSIX.rename(temporary, path)
        } catch {
            _ = unlink(temporary)
            try? await channel.channel.close()
            throw error
        }
        return channel
    }

    /// Removes a socket file nobody accepts on; refuses a live socket or a file that is not a socket.
    static func removeStaleSocket(at path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw SystemError(operation: "control socket: not a socket, refusing to replace", path: path, errno: EEXIST)
        }
        if ControlClient.isListening(socketPath: path) {
            throw SystemError(operation: "control socket: another server is listening on", path: path, errno: EADDRINUSE)
        }
        _ = unlink(path)
    }

    // MARK: requests

    private func serve(_ connection: Connection) async {
        let peer = await Self.peerUID(connection.channel)
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body = ByteBuffer()
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                        body.clear()
                    case .body(var chunk):
                        guard body.readableBytes + chunk.readableBytes <= 1 << 20 else { return }
                        body.writeBuffer(&chunk)
                    case .end:
                        guard let head else { return }
                        let (status, json) = await respond(head, body: body, peer: peer)
                        var headers = HTTPHeaders()
                        headers.add(name: "Content-Type", value: "application/json")
                        headers.add(name: "Content-Length", value: "\(json.count)")
                        headers.add(name: "Connection", value: "close")
                        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: json))))
                        try await outbound.write(.end(nil))
                        await finishResponses(connection)
                        return
                    }
                }
            }
        } catch {
            logger.debug("control connection failed", metadata: ["error": "\(error)"])
        }
    }

    private struct Failure: Error {
        var status: HTTPResponseStatus
        var message: String
    }

    /// Commands that read or move a database's data, or stop its replication: only for root and the user running
    /// the server, whatever the socket's permissions (`status`, `list`, `info` and `sync` are safe to expose).
    static let ownerOnlyRoutes: Set<String> = ["/register", "/unregister", "/start", "/stop"]

    /// The connecting process's user (SO_PEERCRED; LOCAL_PEERCRED on macOS), nil if unknown.
    private static func peerUID(_ channel: any Channel) async -> uid_t? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        #if canImport(Glibc)
        struct UCred: Sendable { var pid: Int32, uid: UInt32, gid: UInt32 }
        let cred: UCred? = try? await provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SO_PEERCRED).get()
        return cred?.uid
        #else
        let cred: xucred? = try? await provider.unsafeGetSocketOption(level: 0 /* SOL_LOCAL */, name: LOCAL_PEERCRED).get()
        return cred?.cr_uid
        #endif
    }

    private func respond(_ head: HTTPRequestHead, body: ByteBuffer, peer: uid_t?) async -> (HTTPResponseStatus, [UInt8]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            let (route, query) = Self.split(head.uri)
            if Self.ownerOnlyRoutes.contains(route), peer != 0, peer != getuid() {
                throw Failure(status: .forbidden, message: "\(route.dropFirst()) refused: the caller (uid \(peer.map { "\($0)" } ?? "unknown")) "
                    + "is neither root nor the user running litestream (uid \(getuid())); run it as that user")
            }
            let value = try await handle(method: head.method, route: route, query: query, body: body)
            return (.ok, Array(try encoder.encode(value)))
        } catch let f as Failure {
            return (f.status, Array((try? encoder.encode(ControlErrorBody(error: f.message))) ?? Data()))
        } catch {
            return (.internalServerError, Array((try? encoder.encode(ControlErrorBody(error: "\(error)"))) ?? Data()))
        }
    }

    private func handle(method: HTTPMethod, route: String, query: [String: String], body: ByteBuffer) async throws
        -> any Encodable
    {
        func require(_ m: HTTPMethod) throws {
            guard method == m else { throw Failure(status: .methodNotAllowed, message: "\(route) needs \(m)") }
        }
        func path() throws -> String {
            guard let p = query["path"], !p.isEmpty else { throw Failure(status: .badRequest, message: "missing path") }
            return absolutePath(p)
        }
        func known(_ p: String) throws {
            guard server.databasePaths.contains(p) else {
                throw Failure(status: .notFound, message: "database not found: \(p)")
            }
        }
        switch route {
        case "/info":
            try require(.GET)
            return ControlInfo(version: configuration.version, pid: getpid(), startedAt: startedAt,
                configPath: configuration.configPath, socketPath: configuration.path,
                databases: server.databasePaths.count)
        case "/list":
            try require(.GET)
            return server.statuses()
        case "/status":
            try require(.GET)
            let p = try path()
            guard let s = server.statuses().first(where: { $0.path == p }) else {
                throw Failure(status: .notFound, message: "database not found: \(p)")
            }
            return s
        case "/sync":
            try require(.POST)
            let wait = ["true", "1", "yes"].contains(query["wait"]?.lowercased() ?? "")
            var timeout = Duration.seconds(30)
            if let t = query["timeout"] {
                guard let d = GoDuration.parse(t, bareSeconds: true), d >= .zero else { throw Failure(status: .badRequest, message: "invalid timeout \(t)") }
                timeout = d
            }
            if query["path"] == nil {
                var results: [ControlSyncResult] = []
                for p in server.databasePaths {
                    guard let m = server.monitor(for: p), m.isRunning else { continue }
                    results.append(try await sync(m, path: p, wait: wait, timeout: timeout))
                }
                return results
            }
            let p = try path()
            try known(p)
            guard let m = server.monitor(for: p) else {
                throw Failure(status: .conflict, message: "replication of \(p) is not running")
            }
            return try await sync(m, path: p, wait: wait, timeout: timeout)
        case "/start":
            try require(.POST)
            let p = try path()
            try known(p)
            guard server.start(path: p) else { throw Failure(status: .conflict, message: "database already running: \(p)") }
            return ControlActionResult(path: p, status: "started")
        case "/stop":
            try require(.POST)
            let p = try path()
            try known(p)
            guard await server.stop(path: p) else { throw Failure(status: .conflict, message: "database already stopped: \(p)") }
            return ControlActionResult(path: p, status: "stopped")
        case "/unregister":
            try require(.POST)
            let p = try path()
            try known(p)
            await server.unregister(path: p)
            return ControlActionResult(path: p, status: "unregistered")
        case "/register":
            try require(.POST)
            let request: ControlRegisterRequest
            do {
                request = try JSONDecoder().decode(ControlRegisterRequest.self, from: Data(body.readableBytesView))
            } catch {
                throw Failure(status: .badRequest, message: "invalid register request: \(error)")
            }
            guard let makeConfiguration else {
                throw Failure(status: .notImplemented, message: "this server does not accept new databases")
            }
            let p = absolutePath(request.path)
            let config: Replicator.Configuration
            do {
                config = try makeConfiguration(p, request.replica)
            } catch {
                throw Failure(status: .badRequest, message: "\(error)")
            }
            guard server.register(config) else {
                throw Failure(status: .conflict, message: "database already running: \(p)")
            }
            return ControlActionResult(path: p, status: "registered")
        default:
            throw Failure(status: .notFound, message: "unknown endpoint \(route)")
        }
    }

    private func sync(_ monitor: ReplicationMonitor, path: String, wait: Bool, timeout: Duration) async throws
        -> ControlSyncResult
    {
        do {
            return ControlSyncResult(path: path, txid: try await monitor.sync(waitForReplicas: wait, timeout: timeout))
        } catch let e as EngineError where e.code == .timeout {
            throw Failure(status: .gatewayTimeout, message: e.message)
        } catch let e as EngineError where e.code == .notRunning {
            throw Failure(status: .conflict, message: e.message)
        }
    }

    /// `/sync?path=%2Fa&wait=true` → ("/sync", ["path": "/a", "wait": "true"]).
    static func split(_ uri: String) -> (String, [String: String]) {
        guard let q = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decode(kv[0])
            query[key] = kv.count > 1 ? decode(kv[1]) : ""
        }
        return (String(uri[..<q]), query)
    }

    private static func decode(_ s: Substring) -> String {
        let plus = s.replacingOccurrences(of: "+", with: " ")
        return plus.removingPercentEncoding ?? plus
    }
}
