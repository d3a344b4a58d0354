import Foundation
import Logging

/// The one connection of a NATS replica, shared by every copy of its client: made on first use, made again when
/// it has closed (the server restarted, the network dropped). It sends nothing of its own, so an idle replica
/// costs no request.
actor NATSConnector {
    let configuration: NATSConfiguration
    private let logger: Logger
    private var current: NATSConnection?
    private var connecting: Task<NATSConnection, any Error>?
    /// Operations sent on connections already dropped (with the current one's: ``requestsSent``).
    private var sentBefore = 0

    init(configuration: NATSConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The open connection, connecting first when there is none (or it has closed), and whether it was already
    /// open (and so may have died since, unnoticed). Concurrent callers share one attempt.
    func connection() async throws -> (connection: NATSConnection, reused: Bool) {
        if let c = current {
            if c.isActive { return (c, true) }
            retire(c)
        }
        if let t = connecting { return (try await t.value, false) }
        let (configuration, logger) = (configuration, logger)
        let t = Task { try await NATSConnection.connect(configuration, logger: logger) }
        connecting = t
        defer { connecting = nil }
        let c = try await t.value
        current = c
        logger.debug("nats connected", metadata: ["endpoint": "\(configuration.endpoint)", "server": "\(c.info.version ?? "?")"])
        return (c, false)
    }

    /// Forgets `c` after a failure on it, closing it, so that the next call connects again.
    func drop(_ c: NATSConnection) {
        if current === c { retire(c) }
    }

    private func retire(_ c: NATSConnection) {
        sentBefore += c.requestsSent
        current = nil
        Task { await c.close() }
    }

    /// Operations (PUB, HPUB, SUB, UNSUB) sent so far, over every connection.
    var requestsSent: Int { sentBefore + (current?.requestsSent ?? 0) }

    func close() async {
        if let c = current {
            retire(c)
            await c.close()
        }
    }
}
