import NIOCore
import NIOSSH

/// The SFTP subsystem on one SSH session channel: starts the subsystem, exchanges INIT/VERSION, then frames
/// requests (giving each a request id) and hands every response to the promise of the request it answers.
/// Requests are pipelined: any number may be outstanding, and responses may come in any order.
///
/// Everything here runs on the channel's event loop. When the channel closes, every outstanding request fails with
/// ``SFTPError/Code/connectionLost``.
final class SFTPChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = SSHChannelData
    typealias OutboundIn = Command
    typealias OutboundOut = SSHChannelData

    /// What the client writes into the channel.
    enum Command: Sendable {
        /// Start the `sftp` subsystem and exchange versions; the promise gets the server's VERSION.
        case start(EventLoopPromise<SFTPResponse>)
        /// Send a request; the promise gets its response (a STATUS error too: checking it is the caller's job).
        case request(SFTPRequest, EventLoopPromise<SFTPResponse>)
    }

    private let endpoint: String
    private var nextID: UInt32 = 1
    private var pending: [UInt32: EventLoopPromise<SFTPResponse>] = [:]
    private var startPromise: EventLoopPromise<SFTPResponse>?
    private var received: ByteBuffer?
    private var closed = false

    init(endpoint: String) {
        self.endpoint = endpoint
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .start(let versionPromise):
            guard !closed else {
                versionPromise.fail(lost("before the SFTP session started"))
                return
            }
            startPromise = versionPromise
            let request = SSHChannelRequestEvent.SubsystemRequest(subsystem: "sftp", wantReply: true)
            context.triggerUserOutboundEvent(request, promise: nil)
            promise?.succeed()
        case .request(let request, let responsePromise):
            guard !closed else {
                responsePromise.fail(lost("before the request was sent"))
                promise?.fail(lost("before the request was sent"))
                return
            }
            let id = nextID
            nextID &+= 1
            pending[id] = responsePromise
            var buffer = context.channel.allocator.buffer(capacity: 64)
            request.encode(id: id, into: &buffer)
            // A failed write means the channel is closing: channelInactive then fails this request with the rest.
            context.writeAndFlush(wrapOutboundOut(SSHChannelData(type: .channel, data: .byteBuffer(buffer))), promise: promise)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard message.type == .channel, case .byteBuffer(var bytes) = message.data else { return }  // stderr: ignored
        if received == nil {
            received = bytes
        } else {
            received!.writeBuffer(&bytes)
        }
        do {
            while received != nil, let response = try SFTPResponse.decode(from: &received!) {
                dispatch(response)
            }
            if received?.readableBytes == 0 {
                received = nil
            } else {
                received?.discardReadBytes()
            }
        } catch {
            failAll(error)
            context.close(promise: nil)
        }
    }

    private func dispatch(_ response: SFTPResponse) {
        guard let id = response.id else {
            startPromise?.succeed(response)
            startPromise = nil
            return
        }
        // An answer to no outstanding request: ignore it rather than fail the session.
        pending.removeValue(forKey: id)?.succeed(response)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelSuccessEvent, startPromise != nil {
            var buffer = context.channel.allocator.buffer(capacity: 9)
            SFTPRequest.encodeInit(into: &buffer)
            context.writeAndFlush(wrapOutboundOut(SSHChannelData(type: .channel, data: .byteBuffer(buffer))), promise: nil)
        } else if event is ChannelFailureEvent, let p = startPromise {
            startPromise = nil
            p.fail(SFTPError(.protocolViolation, "\(endpoint) refused the sftp subsystem (is the SFTP server enabled in sshd_config?)"))
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(lost("with requests outstanding"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(SFTPError(.connectionLost, "the connection to \(endpoint) failed", cause: error))
        context.close(promise: nil)
    }

    private func lost(_ when: String) -> SFTPError {
        SFTPError(.connectionLost, "the connection to \(endpoint) closed \(when)")
    }

    private func failAll(_ error: any Error) {
        closed = true
        let waiting = pending
        pending = [:]
        for p in waiting.values { p.fail(error) }
        startPromise?.fail(error)
        startPromise = nil
    }
}
