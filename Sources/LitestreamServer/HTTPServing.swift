import LitestreamCore
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// An accepted HTTP/1.1 connection of our small servers (control socket, metrics).
typealias HTTPConnection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

/// Serves each connection of a bound server channel in its own child task until graceful shutdown or cancellation,
/// which closes the channel; connections still open then are cancelled. A failure of the channel is logged, not
/// thrown: replication goes on without the server.
func serveConnections(
    of channel: NIOAsyncChannel<HTTPConnection, Never>, logger: Logger,
    failure: Logger.Message, _ serve: @escaping @Sendable (HTTPConnection) async -> Void
) async {
    await withDiscardingTaskGroup { group in
        do {
            try await withTaskCancellationOrGracefulShutdownHandler {
                try await channel.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await serve(connection) }
                    }
                }
            } onCancelOrGracefulShutdown: {
                channel.channel.close(promise: nil)
            }
        } catch {
            if !Task.isShuttingDownGracefully && !Task.isCancelled { logger.error(failure, metadata: ["error": "\(error)"]) }
        }
        group.cancelAll()
    }
}

/// Waits until every response part written to `connection` has gone to the kernel, and shuts its output (the
/// client then reads the end of the response). `executeThenClose` closes the channel at once, and a close drops
/// writes still pending: a response larger than the socket's buffer (`list` of 10,000 databases, 2 MB) arrived cut
/// short, and the client saw invalid JSON.
func finishResponses(_ connection: HTTPConnection) async {
    try? await connection.channel.close(mode: .output).get()
}
