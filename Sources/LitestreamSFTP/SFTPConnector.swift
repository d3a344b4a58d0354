import Foundation
import Logging
import Synchronization

/// The one connection of an SFTP replica, shared by every copy of its client: made on first use, made again when
/// it has closed (the server restarted, the network dropped), never kept alive by requests of its own, so an idle
/// replica sends nothing.
actor SFTPConnector {
    let configuration: SFTPConfiguration
    private let environment: [String: String]
    private let logger: Logger
    private var current: SFTPConnection?
    private var connecting: Task<SFTPConnection, any Error>?
    /// SFTP requests sent on connections already dropped (with the current one's: ``requestsSent``).
    private var sentBefore = 0

    init(configuration: SFTPConfiguration, environment: [String: String], logger: Logger) {
        self.configuration = configuration
        self.environment = environment
        self.logger = logger
    }

    /// The open connection, connecting first when there is none (or it has closed). Concurrent callers share one
    /// attempt.
    func connection() async throws -> SFTPConnection { try await connectionNoting().connection }

    /// ``connection()``, saying whether it was already open (and so may have died since, unnoticed).
    func connectionNoting() async throws -> (connection: SFTPConnection, reused: Bool) {
        if let c = current {
            if c.isActive { return (c, true) }
            retire(c)
        }
        if let t = connecting { return (try await t.value, false) }
        let (configuration, environment, logger) = (configuration, environment, logger)
        let t = Task { try await SFTPConnection.connect(configuration, environment: environment, logger: logger) }
        connecting = t
        defer { connecting = nil }
        let c = try await t.value
        current = c
        logger.debug("sftp connected", metadata: ["endpoint": "\(configuration.endpoint)"])
        return (c, false)
    }

    /// Forgets `c` after a failure on it, closing it, so that the next call connects again.
    func drop(_ c: SFTPConnection) {
        if current === c { retire(c) }
    }

    private func retire(_ c: SFTPConnection) {
        sentBefore += c.requestsSent
        current = nil
        Task { await c.close() }
    }

    /// SFTP requests (packets) sent so far, over every connection.
    var requestsSent: Int { sentBefore + (current?.requestsSent ?? 0) }

    /// Closes the connection.
    func close() async {
        if let c = current {
            retire(c)
            await c.close()
        }
    }
}
