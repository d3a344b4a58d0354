import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import LitestreamHTTP

/// One connection to a NATS server, after INFO, TLS (when wanted or required), CONNECT and a PING/PONG that proves
/// the login: request/reply over one wildcard inbox subscription (`_INBOX.<nuid>.*`, as nats.go's), and plain
/// subscriptions. Calls may overlap. ``isActive`` turns false as soon as the connection closes, and every pending
/// call then fails with ``NATSError/Code/connectionLost``.
///
/// The client sends nothing of its own accord: no keep-alive PINGs (the server's PINGs are answered), so an idle
/// replica costs no request. A connection that died unnoticed fails its next request, which is then retried on a
/// new one by ``NATSConnector``.
final class NATSConnection: Sendable {
    let endpoint: String
    let info: NATSServerInfo
    let timeout: Duration
    private let channel: any Channel
    private let state: NATSConnectionState
    private let inbox: String
    private let sent = Atomic<Int>(0)

    private init(endpoint: String, info: NATSServerInfo, timeout: Duration, channel: any Channel, state: NATSConnectionState, inbox: String) {
        self.endpoint = endpoint
        self.info = info
        self.timeout = timeout
        self.channel = channel
        self.state = state
        self.inbox = inbox
    }

    var isActive: Bool { channel.isActive }

    /// Operations (PUB, HPUB, SUB, UNSUB) sent on this connection so far.
    var requestsSent: Int { sent.load(ordering: .relaxed) }

    /// The largest message the server accepts (`max_payload`, 1 MiB by default).
    var maxPayload: Int { info.maxPayload ?? 1 << 20 }

    func close() async {
        try? await channel.close().get()
    }

    // MARK: Connecting

    /// Connects, upgrades to TLS when asked or required, logs in and subscribes the inbox.
    ///
    /// Throws a ``NATSError`` naming the endpoint: ``NATSError/Code/unreachable`` (refused, no route, timed out, TLS
    /// failed), ``NATSError/Code/authenticationFailed``, ``NATSError/Code/invalidCredentials``.
    static func connect(
        _ c: NATSConfiguration, logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> NATSConnection {
        let endpoint = c.endpoint
        let credential = try NATSCredential(c.credential)
        let state = NATSConnectionState()
        let loop = group.next()
        let infoPromise = loop.makePromise(of: NATSServerInfo.self)
        state.expectInfo(infoPromise)
        let timeout = TimeAmount.of(c.timeout)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(NATSFrameDecoder()), NATSInboundHandler(state: state, endpoint: endpoint))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: c.host, port: c.port).get()
        } catch {
            infoPromise.fail(error)
            throw NATSError(.unreachable, "cannot connect to \(endpoint): \(ConnectionFailure.describe(error)) (check that the NATS server is reachable)", cause: error)
        }
        // Every promise made here is completed on every path (a second completion is ignored): one left pending
        // when the handshake failed early (the connection closed before the server's PONG was expected) is a
        // "leaking promise" crash in debug builds.
        var pending: [EventLoopPromise<Void>] = []
        do {
            let info = try await withDeadline(infoPromise.futureResult, on: channel, after: timeout, "the server's INFO")
            let useTLS = c.wantsTLS || info.tlsRequired == true
            if useTLS {
                // Made and added on the event loop: the handler is not Sendable.
                try await channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.addHandler(try makeTLSHandler(c), position: .first)
                }.get()
            }
            var connect = ConnectRequest(tlsRequired: useTLS, headers: true, noResponders: true)
            try credential.apply(to: &connect, nonce: info.nonce)
            let json = String(decoding: try JSONEncoder().encode(connect), as: UTF8.self)
            let pong = channel.eventLoop.makePromise(of: Void.self)
            pending.append(pong)
            state.expectPong(pong)
            var buffer = channel.allocator.buffer(capacity: json.utf8.count + 32)
            buffer.writeString(NATSClientOp.connect(json) + NATSClientOp.ping)
            try await channel.writeAndFlush(buffer).get()
            do {
                try await withDeadline(pong.futureResult, on: channel, after: timeout, "the server's answer to CONNECT")
            } catch let e as NATSError where e.code == .authenticationFailed {
                throw NATSError(.authenticationFailed, "\(endpoint) refused \(c.credentialKind): \(e.message)")
            }
            let inbox = "_INBOX.\(NUID.next())."
            let connection = NATSConnection(endpoint: endpoint, info: info, timeout: c.timeout, channel: channel, state: state, inbox: inbox)
            var sub = channel.allocator.buffer(capacity: 64)
            sub.writeString(NATSClientOp.sub(inbox + "*", sid: NATSConnectionState.inboxSID))
            try await channel.writeAndFlush(sub).get()
            return connection
        } catch {
            infoPromise.fail(error)
            for p in pending { p.fail(error) }
            channel.close(promise: nil)
            if let e = error as? NATSError {
                if e.code == .connectionLost || e.code == .timedOut {
                    throw NATSError(.unreachable, "\(endpoint) did not complete the NATS handshake: \(e.message)", cause: e.cause)
                }
                throw e
            }
            if error is NIOSSLError || error is BoringSSLError {
                throw NATSError(.unreachable, "TLS with \(endpoint) failed: \(error)", cause: error)
            }
            throw NATSError(.unreachable, "the NATS handshake with \(endpoint) failed: \(ConnectionFailure.describe(error))", cause: error)
        }
    }

    private static func makeTLSHandler(_ c: NATSConfiguration) throws -> NIOSSLClientHandler {
        do {
            var tls = TLSConfiguration.makeClientConfiguration()
            if !c.rootCAs.isEmpty {
                tls.trustRoots = .certificates(try c.rootCAs.flatMap { try NIOSSLCertificate.fromPEMFile($0) })
            } else {
                tls.additionalTrustRoots = try EnvironmentTrustRoots.roots()
            }
            if let cert = c.clientCert, let key = c.clientKey {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            let context = try NIOSSLContext(configuration: tls)
            // SNI and name checking want a name; for an address literal the certificate must carry the IP.
            let isAddress = c.host.contains(":") || c.host.allSatisfy { $0.isNumber || $0 == "." }
            return try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : c.host)
        } catch {
            throw NATSError(.invalidConfiguration, "cannot set up TLS for \(c.endpoint) (root-cas, client-cert, client-key): \(error)", cause: error)
        }
    }

    /// `future`'s value, or ``NATSError/Code/timedOut`` after `timeout` (the connection is then closed).
    private static func withDeadline<T: Sendable>(
        _ future: EventLoopFuture<T>, on channel: any Channel, after timeout: TimeAmount, _ what: String
    ) async throws -> T {
        let task = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        defer { task.cancel() }
        do {
            return try await future.get()
        } catch let e as NATSError where e.code == .connectionLost && !channel.isActive {
            throw NATSError(.timedOut, "no \(what) within \(timeout.nanoseconds / 1_000_000) ms, or the connection closed", cause: e)
        }
    }

    // MARK: Requests and subscriptions

    /// Publishes `payload` with a reply subject in our inbox; the future gets the first reply, or fails with
    /// ``NATSError/Code/timedOut`` after `timeout` (the connection's by default) or
    /// ``NATSError/Code/connectionLost``.
    func requestFuture(
        _ subject: String, payload: some Collection<UInt8>, headers: [(String, String)] = [], timeout: Duration? = nil
    ) -> EventLoopFuture<NATSMessage> {
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: NATSMessage.self)
        guard let token = state.register(promise) else {
            promise.fail(NATSError(.connectionLost, "the connection to \(endpoint) is closed"))
            return promise.futureResult
        }
        var buffer = channel.allocator.buffer(capacity: payload.count + subject.utf8.count + 96)
        NATSClientOp.publish(subject: subject, replyTo: inbox + token, headers: headers, payload: payload, into: &buffer)
        sent.add(1, ordering: .relaxed)
        let wait = TimeAmount.of(timeout ?? self.timeout)
        let (state, endpoint) = (state, endpoint)
        let deadline = loop.scheduleTask(in: wait) {
            state.fail(token, NATSError(.timedOut, "no answer from \(endpoint) to a request on \(subject) within \(wait.nanoseconds / 1_000_000) ms"))
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        channel.writeAndFlush(buffer).whenFailure { error in
            state.fail(token, NATSError(.connectionLost, "cannot send to \(endpoint): \(error)", cause: error))
        }
        return promise.futureResult
    }

    func request(
        _ subject: String, payload: some Collection<UInt8>, headers: [(String, String)] = [], timeout: Duration? = nil
    ) async throws -> NATSMessage {
        try await requestFuture(subject, payload: payload, headers: headers, timeout: timeout).get()
    }

    /// Subscribes to `subject`; messages arrive on the stream, which ends with ``NATSError/Code/connectionLost``
    /// when the connection closes, or normally after ``unsubscribe(sid:)``.
    func subscribe(_ subject: String) async throws -> (sid: Int, messages: AsyncThrowingStream<NATSMessage, any Error>) {
        let (stream, continuation) = AsyncThrowingStream<NATSMessage, any Error>.makeStream()
        guard let sid = state.addSubscription(continuation) else {
            throw NATSError(.connectionLost, "the connection to \(endpoint) is closed")
        }
        var buffer = channel.allocator.buffer(capacity: 64)
        buffer.writeString(NATSClientOp.sub(subject, sid: sid))
        sent.add(1, ordering: .relaxed)
        do {
            try await channel.writeAndFlush(buffer).get()
        } catch {
            state.removeSubscription(sid)
            throw NATSError(.connectionLost, "cannot send to \(endpoint): \(error)", cause: error)
        }
        return (sid, stream)
    }

    func unsubscribe(sid: Int) {
        state.removeSubscription(sid)
        guard channel.isActive else { return }
        var buffer = channel.allocator.buffer(capacity: 32)
        buffer.writeString(NATSClientOp.unsub(sid: sid))
        sent.add(1, ordering: .relaxed)
        channel.writeAndFlush(buffer, promise: nil)
    }
}

extension TimeAmount {
    /// `d` in NIO's unit.
    static func of(_ d: Duration) -> TimeAmount {
        let (s, atto) = d.components
        return .nanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
    }
}

/// CONNECT's JSON: the options nats.go sends, and one credential.
struct ConnectRequest: Encodable {
    var verbose = false
    var pedantic = false
    var tlsRequired: Bool
    var name = "litestream"
    var lang = "swift"
    var version = "0.5.17"
    var `protocol` = 1
    var echo = true
    var headers: Bool
    var noResponders: Bool
    var user: String?
    var pass: String?
    var authToken: String?
    var jwt: String?
    var nkey: String?
    var sig: String?

    enum CodingKeys: String, CodingKey {
        case verbose, pedantic, tlsRequired = "tls_required", name, lang, version, `protocol`, echo, headers
        case noResponders = "no_responders", user, pass, authToken = "auth_token", jwt, nkey, sig
    }
}

/// The credential of a connection, its files read and its seed decoded once.
struct NATSCredential: Sendable {
    private let kind: NATSConfiguration.Credential
    private let key: NKey?
    private let jwt: String?

    init(_ kind: NATSConfiguration.Credential) throws {
        self.kind = kind
        switch kind {
        case .jwtAndSeed(let jwt, let seed):
            self.jwt = jwt
            key = try NKey(seed: seed)
        case .credsFile(let path):
            let creds = try NATSCredentials(path: path)
            jwt = creds.jwt
            key = try NKey(seed: creds.seed)
        case .nkeySeed(let seed):
            jwt = nil
            key = try NKey(seed: seed)
        case .none, .userPassword, .token:
            jwt = nil
            key = nil
        }
    }

    /// Fills in CONNECT's credential fields, signing the server's nonce with the seed where there is one.
    func apply(to connect: inout ConnectRequest, nonce: String?) throws {
        switch kind {
        case .none: break
        case .userPassword(let user, let password):
            connect.user = user
            connect.pass = password
        case .token(let token): connect.authToken = token
        case .jwtAndSeed, .credsFile, .nkeySeed:
            guard let key else { return }
            guard let nonce else {
                throw NATSError(.authenticationFailed, "the server sent no nonce to sign: it is not set up for JWT or nkey authentication")
            }
            if let jwt { connect.jwt = jwt } else { connect.nkey = key.publicKey }
            connect.sig = try key.sign(nonce: nonce)
        }
    }
}

/// What the inbound handler and the callers share: pending requests, subscriptions, the handshake's promises.
final class NATSConnectionState: Sendable {
    static let inboxSID = 1

    private struct State {
        var nextToken = 1
        var nextSID = NATSConnectionState.inboxSID + 1
        var pending: [String: EventLoopPromise<NATSMessage>] = [:]
        var subscriptions: [Int: AsyncThrowingStream<NATSMessage, any Error>.Continuation] = [:]
        var info: EventLoopPromise<NATSServerInfo>?
        var pongs: [EventLoopPromise<Void>] = []
        var closed: NATSError?
        var serverError: String?
    }
    private let state = Mutex(State())

    func expectInfo(_ p: EventLoopPromise<NATSServerInfo>) { state.withLock { $0.info = p } }
    func expectPong(_ p: EventLoopPromise<Void>) { state.withLock { $0.pongs.append(p) } }

    /// A new request token, or nil when the connection is closed.
    func register(_ p: EventLoopPromise<NATSMessage>) -> String? {
        state.withLock { s in
            guard s.closed == nil else { return nil }
            let t = String(s.nextToken)
            s.nextToken += 1
            s.pending[t] = p
            return t
        }
    }

    func fail(_ token: String, _ error: NATSError) {
        state.withLock { $0.pending.removeValue(forKey: token) }?.fail(error)
    }

    func addSubscription(_ c: AsyncThrowingStream<NATSMessage, any Error>.Continuation) -> Int? {
        state.withLock { s in
            guard s.closed == nil else { return nil }
            let sid = s.nextSID
            s.nextSID += 1
            s.subscriptions[sid] = c
            return sid
        }
    }

    func removeSubscription(_ sid: Int) {
        state.withLock { $0.subscriptions.removeValue(forKey: sid) }?.finish()
    }

    // Called by the inbound handler, on the event loop.

    func received(info: NATSServerInfo) {
        state.withLock { s -> EventLoopPromise<NATSServerInfo>? in
            defer { s.info = nil }
            return s.info
        }?.succeed(info)
    }

    func receivedPong() {
        state.withLock { s -> EventLoopPromise<Void>? in s.pongs.isEmpty ? nil : s.pongs.removeFirst() }?.succeed()
    }

    func received(_ message: NATSMessage) {
        if message.sid == Self.inboxSID {
            let token = message.subject.split(separator: ".").last.map(String.init) ?? ""
            state.withLock { $0.pending.removeValue(forKey: token) }?.succeed(message)
        } else {
            _ = state.withLock { $0.subscriptions[message.sid] }?.yield(message)
        }
    }

    /// An `-ERR`: an authorization error fails the login; the server closes the connection after the others that
    /// matter, which then fails everything pending with the message.
    func receivedError(_ text: String, endpoint: String) {
        let pongs = state.withLock { s -> [EventLoopPromise<Void>] in
            s.serverError = text
            guard text.lowercased().contains("authorization") || text.lowercased().contains("authentication") else { return [] }
            defer { s.pongs = [] }
            return s.pongs
        }
        for p in pongs { p.fail(NATSError(.authenticationFailed, text)) }
    }

    func closed(endpoint: String) {
        let (info, pongs, pending, subs, serverError) = state.withLock { s in
            let serverError = s.serverError
            s.closed = NATSError(.connectionLost, "the connection to \(endpoint) closed" + (serverError.map { " (the server said: \($0))" } ?? ""))
            defer {
                s.info = nil
                s.pongs = []
                s.pending = [:]
                s.subscriptions = [:]
            }
            return (s.info, s.pongs, s.pending, s.subscriptions, serverError)
        }
        let error = NATSError(.connectionLost, "the connection to \(endpoint) closed" + (serverError.map { " (the server said: \($0))" } ?? ""))
        info?.fail(error)
        for p in pongs {
            if let serverError, serverError.lowercased().contains("authorization") {
                p.fail(NATSError(.authenticationFailed, serverError))
            } else {
                p.fail(error)
            }
        }
        for p in pending.values { p.fail(error) }
        for c in subs.values { c.finish(throwing: error) }
    }
}

/// Answers the server's PINGs and hands everything else to the ``NATSConnectionState``.
final class NATSInboundHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = NATSServerOp
    typealias OutboundOut = ByteBuffer

    private let state: NATSConnectionState
    private let endpoint: String

    init(state: NATSConnectionState, endpoint: String) {
        self.state = state
        self.endpoint = endpoint
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .ping:
            var b = context.channel.allocator.buffer(capacity: 8)
            b.writeString(NATSClientOp.pong)
            context.writeAndFlush(wrapOutboundOut(b), promise: nil)
        case .pong: state.receivedPong()
        case .ok: break
        case .info(let info): state.received(info: info)
        case .err(let text): state.receivedError(text, endpoint: endpoint)
        case .msg(let m): state.received(m)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed(endpoint: endpoint)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
