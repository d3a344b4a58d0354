public import Foundation
public import Logging
public import NIOCore
public import NIOPosix
import NIOSSH
import Synchronization

/// One SSH connection with one SFTP session on it: the requests of SFTP v3, each an `async` call that returns
/// when its response arrives. Calls may overlap (the session pipelines them); ``isActive`` turns false as soon as
/// the connection closes, and every call then fails with ``SFTPError/Code/connectionLost``.
public final class SFTPConnection: Sendable {
    /// `user@host:port`, for messages.
    public let endpoint: String
    /// The extensions the server announced in its VERSION (`posix-rename@openssh.com`, …).
    public let extensions: [String: String]
    private let parent: any Channel
    private let session: any Channel
    private let sent = Atomic<Int>(0)

    private init(endpoint: String, extensions: [String: String], parent: any Channel, session: any Channel) {
        self.endpoint = endpoint
        self.extensions = extensions
        self.parent = parent
        self.session = session
    }

    /// Whether the connection is still open (no request is sent to find out).
    public var isActive: Bool { parent.isActive && session.isActive }

    /// SFTP requests sent on this connection so far.
    public var requestsSent: Int { sent.load(ordering: .relaxed) }

    /// Closes the connection; outstanding requests fail.
    public func close() async {
        try? await parent.close().get()
    }

    // MARK: Connecting

    /// Connects, checks the host key, logs in and starts the SFTP session.
    ///
    /// Throws an ``SFTPError`` naming the endpoint: ``SFTPError/Code/unreachable`` (refused, no route, timed
    /// out), ``SFTPError/Code/hostKeyUnknown`` or ``SFTPError/Code/hostKeyMismatch`` (with the key the server
    /// presented), ``SFTPError/Code/authenticationFailed``, ``SFTPError/Code/invalidKey``.
    public static func connect(
        _ c: SFTPConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "litestream.sftp"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SFTPConnection {
        let endpoint = c.endpoint
        let policy: SSHHostKeyPolicy
        do {
            policy = try c.hostKeyPolicy(environment: environment)
        } catch {
            throw SFTPError(.invalidConfiguration, error.description)
        }
        var knownHosts: SSHKnownHosts?
        if case .knownHosts(let path) = policy {
            do {
                knownHosts = try SSHKnownHosts(path: path)
            } catch {
                throw SFTPError(.invalidConfiguration, "cannot read the known-hosts file \(path) for \(endpoint)", cause: error)
            }
        }
        let key: NIOSSHPrivateKey? = if let path = c.keyPath, !path.isEmpty { try SSHPrivateKeyFile.load(path: path) } else { nil }
        let report = SSHHandshakeReport()
        let validator = SSHHostKeyValidator(policy: policy, knownHosts: knownHosts, host: c.host, port: c.port,
            endpoint: endpoint, report: report, logger: logger)
        let (user, password, keyPath) = (c.user, c.password, c.keyPath)
        let timeout = TimeAmount.nanoseconds(Int64(c.connectTimeout.components.seconds) * 1_000_000_000
            + c.connectTimeout.components.attoseconds / 1_000_000_000)

        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let authenticator = SSHUserAuthenticator(user: user, password: password, key: key, keyPath: keyPath,
                        endpoint: endpoint, report: report)
                    let configuration = SSHClientConfiguration(userAuthDelegate: authenticator, serverAuthDelegate: validator)
                    try channel.pipeline.syncOperations.addHandlers(
                        NIOSSHHandler(role: .client(configuration), allocator: channel.allocator, inboundChildChannelInitializer: nil),
                        SSHErrorHandler())
                }
            }
        let parent: any Channel
        do {
            parent = try await bootstrap.connect(host: c.host, port: c.port).get()
        } catch {
            throw SFTPError(.unreachable, "cannot connect to \(endpoint): \(Self.describe(error))", cause: error)
        }
        // The TCP connect has its own timeout; this one bounds the handshake (a server that accepts and says nothing).
        let deadline = parent.eventLoop.scheduleTask(in: timeout) {
            report.state.withLock { $0.timedOut = true }
            parent.close(promise: nil)
        }
        defer { deadline.cancel() }
        do {
            let sessionPromise = parent.eventLoop.makePromise(of: (any Channel).self)
            parent.eventLoop.execute {
                do {
                    let ssh = try parent.pipeline.syncOperations.handler(type: NIOSSHHandler.self)
                    ssh.createChannel(sessionPromise, channelType: .session) { child, _ in
                        child.eventLoop.makeCompletedFuture {
                            try child.pipeline.syncOperations.addHandler(SFTPChannelHandler(endpoint: endpoint))
                        }
                    }
                } catch {
                    sessionPromise.fail(error)
                }
            }
            // Closing the connection before the session exists (a refused host key or login) may leave the promise
            // to NIOSSH's teardown; fail it ourselves then.
            parent.closeFuture.whenComplete { _ in
                sessionPromise.fail(SFTPError(.connectionLost, "the connection to \(endpoint) closed during the SSH handshake"))
            }
            let session = try await sessionPromise.futureResult.get()
            let versionPromise = session.eventLoop.makePromise(of: SFTPResponse.self)
            parent.closeFuture.whenComplete { _ in
                versionPromise.fail(SFTPError(.connectionLost, "the connection to \(endpoint) closed while starting SFTP"))
            }
            try await session.writeAndFlush(SFTPChannelHandler.Command.start(versionPromise)).get()
            guard case .version(let version, let extensions) = try await versionPromise.futureResult.get() else {
                throw SFTPError(.protocolViolation, "\(endpoint) did not answer SFTP's INIT with a VERSION")
            }
            guard version >= 3 else {
                throw SFTPError(.protocolViolation, "\(endpoint) speaks SFTP version \(version); version 3 is needed")
            }
            return SFTPConnection(endpoint: endpoint, extensions: extensions, parent: parent, session: session)
        } catch {
            parent.close(promise: nil)
            let seen = report.state.withLock { $0 }
            if let e = seen.hostKeyError ?? seen.authenticationError { throw e }
            if seen.timedOut {
                throw SFTPError(.unreachable, "the SSH handshake with \(endpoint) timed out after \(c.connectTimeout)")
            }
            if let e = error as? SFTPError, e.code != .connectionLost { throw e }
            throw SFTPError(.unreachable, "the SSH handshake with \(endpoint) failed: \(Self.describe(error))", cause: error)
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? IOError { return "\(e.description)" }
        return "\(error)"
    }

    // MARK: Requests

    /// Sends a request and waits for its response (a STATUS error is returned, not thrown).
    public func send(_ request: SFTPRequest) async throws -> SFTPResponse {
        guard session.isActive else {
            throw SFTPError(.connectionLost, "the connection to \(endpoint) is closed")
        }
        sent.add(1, ordering: .relaxed)
        let promise = session.eventLoop.makePromise(of: SFTPResponse.self)
        session.writeAndFlush(SFTPChannelHandler.Command.request(request, promise), promise: nil)
        return try await promise.futureResult.get()
    }

    /// Throws the STATUS error of a response that should have been `OK`.
    private func expectOK(_ r: SFTPResponse, _ what: @autoclosure () -> String) throws {
        switch r {
        case .status(_, .ok, _): return
        default: throw unexpected(r, what())
        }
    }

    private func unexpected(_ r: SFTPResponse, _ what: String) -> SFTPError {
        if case .status(_, let code, let message) = r {
            let detail = message.isEmpty || message.lowercased() == code.description ? "" : " (\(message))"
            return SFTPError(.status, "\(what) at \(endpoint): \(code)\(detail)", status: code)
        }
        return SFTPError(.protocolViolation, "\(what) at \(endpoint): unexpected answer \(r)")
    }

    /// Opens a file; returns its handle.
    public func open(_ path: String, flags: SFTPOpenFlags, attributes: SFTPAttributes = .init()) async throws -> ByteBuffer {
        let r = try await send(.open(path: path, flags: flags, attributes: attributes))
        guard case .handle(_, let handle) = r else { throw unexpected(r, "open \(path)") }
        return handle
    }

    public func close(handle: ByteBuffer) async throws {
        try expectOK(try await send(.close(handle: handle)), "close")
    }

    /// Reads up to `length` bytes at `offset`; nil at the end of the file. The server may return fewer bytes.
    public func read(handle: ByteBuffer, offset: UInt64, length: UInt32) async throws -> ByteBuffer? {
        let r = try await send(.read(handle: handle, offset: offset, length: length))
        switch r {
        case .data(_, let data): return data
        case .status(_, .eof, _): return nil
        default: throw unexpected(r, "read at \(offset)")
        }
    }

    public func write(handle: ByteBuffer, offset: UInt64, data: ByteBuffer) async throws {
        try expectOK(try await send(.write(handle: handle, offset: offset, data: data)), "write at \(offset)")
    }

    public func stat(_ path: String) async throws -> SFTPAttributes {
        let r = try await send(.stat(path: path))
        guard case .attrs(_, let a) = r else { throw unexpected(r, "stat \(path)") }
        return a
    }

    public func lstat(_ path: String) async throws -> SFTPAttributes {
        let r = try await send(.lstat(path: path))
        guard case .attrs(_, let a) = r else { throw unexpected(r, "lstat \(path)") }
        return a
    }

    public func fstat(handle: ByteBuffer) async throws -> SFTPAttributes {
        let r = try await send(.fstat(handle: handle))
        guard case .attrs(_, let a) = r else { throw unexpected(r, "fstat") }
        return a
    }

    public func setstat(_ path: String, _ attributes: SFTPAttributes) async throws {
        try expectOK(try await send(.setstat(path: path, attributes: attributes)), "setstat \(path)")
    }

    /// Every entry of a directory (OPENDIR, READDIR until EOF, CLOSE), `.` and `..` left out.
    public func readDirectory(_ path: String) async throws -> [SFTPName] {
        let r = try await send(.opendir(path: path))
        guard case .handle(_, let handle) = r else { throw unexpected(r, "opendir \(path)") }
        var names: [SFTPName] = []
        do {
            while true {
                let page = try await send(.readdir(handle: handle))
                if case .name(_, let batch) = page {
                    names += batch.filter { $0.filename != "." && $0.filename != ".." }
                } else if case .status(_, .eof, _) = page {
                    break
                } else {
                    throw unexpected(page, "readdir \(path)")
                }
            }
        } catch {
            _ = try? await send(.close(handle: handle))
            throw error
        }
        try await close(handle: handle)
        return names
    }

    public func remove(_ path: String) async throws {
        try expectOK(try await send(.remove(path: path)), "remove \(path)")
    }

    public func mkdir(_ path: String, attributes: SFTPAttributes = .init()) async throws {
        try expectOK(try await send(.mkdir(path: path, attributes: attributes)), "mkdir \(path)")
    }

    public func rmdir(_ path: String) async throws {
        try expectOK(try await send(.rmdir(path: path)), "rmdir \(path)")
    }

    /// Renames `from` to `to`, replacing `to` if it exists: with OpenSSH's `posix-rename@openssh.com` when the
    /// server has it (plain SFTP v3 RENAME refuses an existing target), else RENAME after removing the target.
    public func rename(_ from: String, to: String) async throws {
        if extensions["posix-rename@openssh.com"] != nil {
            var data = ByteBuffer()
            data.writeSFTPString(from)
            data.writeSFTPString(to)
            try expectOK(try await send(.extended(name: "posix-rename@openssh.com", data: data)), "rename \(from) to \(to)")
            return
        }
        let r = try await send(.rename(from: from, to: to))
        if case .status(_, .ok, _) = r { return }
        if case .status(_, .failure, _) = r, (try? await lstat(to)) != nil {
            try await remove(to)
            try expectOK(try await send(.rename(from: from, to: to)), "rename \(from) to \(to)")
            return
        }
        throw unexpected(r, "rename \(from) to \(to)")
    }
}
