import LitestreamCore
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

/// Litestream's `addr:` setting: serves `GET /metrics` in the Prometheus text format (see `PrometheusText`),
/// rendered from `ReplicationServer.statuses()` at each scrape.
public struct MetricsServer: Service {
    public struct InvalidAddress: Error, CustomStringConvertible {
        public var address: String
        public var description: String { "invalid metrics address \(address): want HOST:PORT or :PORT" }
    }

    public let address: String
    private let server: ReplicationServer
    private let logger: Logger
    private let onListening: (@Sendable (Int) -> Void)?

    /// - Parameters:
    ///   - address: `:9090` (every interface), `127.0.0.1:9090`, `[::1]:9090`; port 0 picks a free port.
    ///   - server: the databases whose statuses it renders.
    ///   - logger: where it reports what it does.
    ///   - onListening: told the port once the server listens (for tests, and for port 0).
    public init(address: String, server: ReplicationServer, logger: Logger = Logger(label: "litestream"),
                onListening: (@Sendable (Int) -> Void)? = nil) {
        self.address = address
        self.server = server
        self.logger = logger
        self.onListening = onListening
    }

    /// `:9090` → ("0.0.0.0", 9090); `[::1]:9090` → ("::1", 9090).
    public static func parse(_ address: String) throws -> (host: String, port: Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw InvalidAddress(address: address) }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    private typealias Connection = HTTPConnection

    /// Serves until graceful shutdown (or cancellation).
    ///
    /// - Throws: when the address is invalid or cannot be bound.
    public func run() async throws {
        let (host, port) = try Self.parse(address)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try Connection(wrappingChannelSynchronously: child)
                }
            }
        let bound = channel.channel.localAddress?.port ?? port
        logger.info("serving metrics", metadata: ["addr": "\(host):\(bound)"])
        onListening?(bound)
        await serveConnections(of: channel, logger: logger, failure: "metrics server failed") {
            await self.serve($0)
        }
    }

    private func serve(_ connection: Connection) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let h): head = h
                    case .body: continue
                    case .end:
                        guard let head else { return }
                        let path = head.uri.prefix { $0 != "?" }
                        let (status, body, type): (HTTPResponseStatus, String, String) =
                            switch (head.method, path) {
                            case (.GET, "/metrics"):
                                (.ok, PrometheusText.render(server.statuses()), "text/plain; version=0.0.4; charset=utf-8")
                            case (_, "/metrics"): (.methodNotAllowed, "method not allowed\n", "text/plain")
                            default: (.notFound, "not found\n", "text/plain")
                            }
                        let bytes = Array(body.utf8)
                        var headers = HTTPHeaders()
                        headers.add(name: "Content-Type", value: type)
                        headers.add(name: "Content-Length", value: "\(bytes.count)")
                        let keepAlive = head.isKeepAlive
                        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
                        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
                        try await outbound.write(.end(nil))
                        if !keepAlive {
                            await finishResponses(connection)
                            return
                        }
                    }
                }
            }
        } catch {
            logger.debug("metrics connection failed", metadata: ["error": "\(error)"])
        }
    }
}
