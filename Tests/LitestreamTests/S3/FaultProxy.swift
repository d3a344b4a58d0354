import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An HTTP proxy between an S3 client (its endpoint is the proxy) and the S3 test server, which injects the
/// failures real S3 and real networks produce. Everything is switchable while requests flow:
///
/// - pass-through;
/// - `500 InternalError` and `503 SlowDown` with S3's XML error bodies (the request never reaches S3);
/// - a connection reset before the request is forwarded (S3 never saw it), or after S3 has executed it and
///   answered (the client never learns that it succeeded: the dangerous case for ordering and idempotence);
/// - a response body cut off half-way (a GET interrupted mid-download);
/// - a delay before the request is forwarded;
/// - ``down()``: the listening socket is closed, so connections are refused (the server is gone), until ``up()``.
///
/// Requests are counted by method, and faults by kind, so a test can check that its faults really happened.
final class FaultProxy: Sendable {
    enum Fault: String, Sendable, CaseIterable, CustomStringConvertible {
        case internalError, slowDown, resetBeforeForwarding, resetAfterForwarding, truncatedBody, delay
        var description: String { rawValue }
    }

    enum Mode: Sendable {
        case passThrough
        /// Every request gets this fault.
        case always(Fault)
        /// Each request gets, with probability `rate`, one of `faults` in a random (seeded) order: dealt from a
        /// shuffled deck, so every kind comes once in each run of `faults.count` faults. (Independent draws left
        /// one kind out of a 14 s test's ~28 faults about once in 25 runs, and the test checks every kind came.)
        case random(rate: Double, faults: [Fault])
        /// The next request gets this fault, the ones after it none.
        case once(Fault)
    }

    private struct State {
        var mode: Mode = .passThrough
        var rng: SplitMix64
        var requests: [String: Int] = [:]
        var kinds: [String: Int] = [:]
        var faults: [Fault: Int] = [:]
        /// What is left of the shuffled deck the random mode deals from.
        var deck: [Fault] = []
        var refused = 0
        var server: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var delay: ClosedRange<Int> = 50...400
    }

    let upstream: String
    let port: Int
    let seed: UInt64
    private let state: Mutex<State>
    private let group = MultiThreadedEventLoopGroup.singleton
    private let client: HTTPClient

    /// `http://127.0.0.1:<port>`, the endpoint to give the S3 client.
    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Starts a proxy on a free loopback port that forwards to `upstream` (`http://host:port`).
    static func start(upstream: String, seed: UInt64 = 1) async throws -> FaultProxy {
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        // Find a free port by binding to port 0 once, then keep that port for the proxy's life (``up()`` rebinds it).
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress!.port!
        try await probe.close()
        let proxy = FaultProxy(upstream: upstream, port: port, seed: seed, client: client)
        try await proxy.up()
        return proxy
    }

    private init(upstream: String, port: Int, seed: UInt64, client: HTTPClient) {
        self.upstream = upstream.hasSuffix("/") ? String(upstream.dropLast()) : upstream
        self.port = port
        self.seed = seed
        self.client = client
        self.state = Mutex(State(rng: SplitMix64(seed: seed)))
    }

    // MARK: - Control

    func setMode(_ mode: Mode) {
        state.withLock {
            $0.mode = mode
            $0.deck = []
        }
    }

    /// The range of delays (milliseconds) of the `.delay` fault.
    func setDelay(milliseconds: ClosedRange<Int>) { state.withLock { $0.delay = milliseconds } }

    /// Requests seen so far by HTTP method (including those that got a fault).
    var requestCounts: [String: Int] { state.withLock { $0.requests } }
    /// Requests seen so far by the kind S3 bills (`PUT`, `GET`, `LIST`, `DELETE`, `HEAD`), read from the wire: a
    /// GET of the bucket is a LIST; a POST is DELETE with `?delete` (DeleteObjects), else PUT (multipart steps).
    var kindCounts: [String: Int] { state.withLock { $0.kinds } }
    var faultCounts: [Fault: Int] { state.withLock { $0.faults } }
    var totalRequests: Int { requestCounts.values.reduce(0, +) }
    var isDown: Bool { state.withLock { $0.server == nil } }

    /// Stops listening and drops every open connection: new connections are refused until ``up()``.
    func down() async {
        let (server, connections) = state.withLock { s in
            defer { s.server = nil; s.connections = [:] }
            return (s.server, Array(s.connections.values))
        }
        for c in connections { Self.reset(c) }
        try? await server?.close()
    }

    /// Listens (again) on ``port``.
    func up() async throws {
        guard isDown else { return }
        var lastError: (any Error)?
        // The port was ours a moment ago; rebinding may briefly fail while the old socket goes away.
        for _ in 0..<50 {
            do {
                let server = try await ServerBootstrap(group: group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: "127.0.0.1", port: port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                            return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                                wrappingChannelSynchronously: channel)
                        }
                    }
                state.withLock { $0.server = server.channel }
                Task { await self.accept(server) }
                return
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw lastError!
    }

    /// Closes the listener and every connection, and the forwarding client.
    func stop() async {
        await down()
        try? await client.shutdown()
    }

    // MARK: - Serving

    private func accept(
        _ server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    ) async {
        try? await server.executeThenClose { inbound in
            await withDiscardingTaskGroup { group in
                do {
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                } catch {}
            }
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let channel = connection.channel
        let id = ObjectIdentifier(channel)
        let accepted = state.withLock { s -> Bool in
            guard s.server != nil else { return false }
            s.connections[id] = channel
            return true
        }
        guard accepted else { return Self.reset(channel) }
        defer { _ = state.withLock { $0.connections.removeValue(forKey: id) } }
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body.clear()
                case .body(var b):
                    body.writeBuffer(&b)
                case .end:
                    guard let h = head else { continue }
                    head = nil
                    let keepOpen = try await self.handle(h, body: body, channel: channel, outbound: outbound)
                    if !keepOpen { return }
                }
            }
        }
    }

    /// Answers one request; returns false when the connection was reset.
    private func handle(
        _ head: HTTPRequestHead, body: ByteBuffer, channel: any Channel,
        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws -> Bool {
        let (fault, delay) = state.withLock { s -> (Fault?, Int) in
            s.requests[head.method.rawValue, default: 0] += 1
            s.kinds[Self.kind(head), default: 0] += 1
            var fault: Fault?
            switch s.mode {
            case .passThrough: fault = nil
            case .always(let f): fault = f
            case .once(let f):
                fault = f
                s.mode = .passThrough
            case .random(let rate, let faults):
                if !faults.isEmpty, s.rng.nextDouble() < rate {
                    if s.deck.isEmpty {
                        s.deck = faults
                        for i in stride(from: s.deck.count - 1, to: 0, by: -1) {
                            s.deck.swapAt(i, Int(s.rng.next() % UInt64(i + 1)))
                        }
                    }
                    fault = s.deck.removeLast()
                }
            }
            if let fault { s.faults[fault, default: 0] += 1 }
            let d = s.delay.lowerBound + Int(s.rng.next() % UInt64(s.delay.count))
            return (fault, d)
        }
        let isHead = head.method == .HEAD
        switch fault {
        case .internalError:
            try await Self.respondError(
                outbound, status: .internalServerError, code: "InternalError",
                message: "We encountered an internal error. Please try again.", isHead: isHead)
            return true
        case .slowDown:
            try await Self.respondError(
                outbound, status: .serviceUnavailable, code: "SlowDown", message: "Please reduce your request rate.",
                isHead: isHead)
            return true
        case .resetBeforeForwarding:
            Self.reset(channel)
            return false
        case .delay:
            try await Task.sleep(for: .milliseconds(delay))
        case .resetAfterForwarding, .truncatedBody, nil:
            break
        }
        let (responseHead, responseBody) = try await forward(head, body: body)
        switch fault {
        case .resetAfterForwarding:
            Self.reset(channel)
            return false
        case .truncatedBody where responseBody.readableBytes > 1 && !isHead:
            try await outbound.write(.head(responseHead))
            try await outbound.write(.body(.byteBuffer(responseBody.getSlice(at: 0, length: responseBody.readableBytes / 2)!)))
            // Let the half body reach the client before the reset.
            try await Task.sleep(for: .milliseconds(20))
            Self.reset(channel)
            return false
        default:
            try await outbound.write(.head(responseHead))
            if !isHead && responseBody.readableBytes > 0 { try await outbound.write(.body(.byteBuffer(responseBody))) }
            try await outbound.write(.end(nil))
            return true
        }
    }

    /// The S3 kind of a path-style request (`/bucket` or `/bucket/key`).
    static func kind(_ head: HTTPRequestHead) -> String {
        let parts = head.uri.split(separator: "?", maxSplits: 1)
        let path = parts.first.map(String.init) ?? ""
        let query = parts.count > 1 ? parts[1].split(separator: "&").map { String($0.split(separator: "=").first ?? "") } : []
        let bucketLevel = path.split(separator: "/").count <= 1
        switch head.method {
        case .GET: return bucketLevel ? "LIST" : "GET"
        case .POST: return query.contains("delete") ? "DELETE" : "PUT"
        default: return head.method.rawValue
        }
    }

    /// Headers that belong to one connection, not to the request.
    private static let hopByHop: Set<String> = [
        "host", "connection", "keep-alive", "content-length", "transfer-encoding", "expect", "proxy-connection", "te",
        "upgrade",
    ]

    private func forward(_ head: HTTPRequestHead, body: ByteBuffer) async throws -> (HTTPResponseHead, ByteBuffer) {
        var request = HTTPClientRequest(url: upstream + head.uri)
        request.method = head.method
        for (name, value) in head.headers where !Self.hopByHop.contains(name.lowercased()) {
            request.headers.add(name: name, value: value)
        }
        if body.readableBytes > 0 || head.method == .PUT || head.method == .POST {
            request.body = .bytes(body)
        }
        let response: HTTPClientResponse
        let data: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(120))
            data = try await response.body.collect(upTo: 512 << 20)
        } catch {
            var h = HTTPHeaders()
            h.add(name: "content-length", value: "0")
            return (HTTPResponseHead(version: .http1_1, status: .badGateway, headers: h), ByteBuffer())
        }
        var headers = HTTPHeaders()
        for (name, value) in response.headers {
            let lower = name.lowercased()
            if lower == "connection" || lower == "transfer-encoding" || lower == "keep-alive" { continue }
            if lower == "content-length" && head.method != .HEAD { continue }
            headers.add(name: name, value: value)
        }
        if head.method != .HEAD { headers.add(name: "content-length", value: "\(data.readableBytes)") }
        return (HTTPResponseHead(version: .http1_1, status: response.status, headers: headers), data)
    }

    private static func respondError(
        _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, status: HTTPResponseStatus, code: String,
        message: String, isHead: Bool
    ) async throws {
        let requestID = String(UInt64.random(in: 0...UInt64.max), radix: 16, uppercase: true)
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>\(code)</Code><Message>\(message)</Message><RequestId>\(requestID)</RequestId>\
            <HostId>fault-proxy</HostId></Error>
            """
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/xml")
        headers.add(name: "x-amz-request-id", value: requestID)
        headers.add(name: "content-length", value: "\(xml.utf8.count)")
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
        if !isHead { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: xml)))) }
        try await outbound.write(.end(nil))
    }

    /// Closes a connection with a TCP RST (SO_LINGER 0) rather than an orderly FIN.
    private static func reset(_ channel: any Channel) {
        guard let sockets = channel as? any SocketOptionProvider else { return channel.close(promise: nil) }
        sockets.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
    }
}
