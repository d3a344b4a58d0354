import Foundation
import LitestreamClient
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// Verifies the backups on a schedule (litestream-ruby's `VerificationJob`): every ``Configuration-swift.struct/interval``
/// it runs ``ReplicationSupervisor/verify(_:timeout:)`` on each database and reports the outcome through the logger
/// (info when verified, error when failed, warning when inconclusive), the counter
/// `litestream_verifications_total{result}` and ``lastResults``, which a status page or health route can read.
///
/// Add it to the same `ServiceGroup` as the supervisor, after it.
public final class VerificationService: Service, Sendable {
    public struct Configuration: Sendable {
        /// How often. Default 24 hours.
        public var interval: Duration = .seconds(24 * 3600)
        /// The first verification, after the app started: late enough for the replicator to be up and the app
        /// to have settled. Default 5 minutes.
        public var initialDelay: Duration = .seconds(300)
        /// How long one verification may wait for the replicas (`verify -timeout`). Default 60 s.
        public var timeout: Duration = .seconds(60)
        /// The databases to verify; nil (the default): every database the replicator replicates.
        public var databases: [String]?

        public init(interval: Duration = .seconds(24 * 3600), initialDelay: Duration = .seconds(300),
                    timeout: Duration = .seconds(60), databases: [String]? = nil) {
            self.interval = interval
            self.initialDelay = initialDelay
            self.timeout = timeout
            self.databases = databases
        }
    }

    /// The last verification of one database.
    public struct Record: Sendable, Equatable {
        public var result: VerificationResult
        /// When it finished (Unix milliseconds).
        public var finishedAt: Int64
        /// How long it took.
        public var duration: Duration
    }

    public let configuration: Configuration
    let supervisor: ReplicationSupervisor
    let logger: Logger
    private let results = Mutex<[String: Record]>([:])

    public init(supervisor: ReplicationSupervisor, configuration: Configuration = .init(),
                logger: Logger = Logger(label: "litestream")) {
        self.supervisor = supervisor
        self.configuration = configuration
        self.logger = logger
    }

    /// The last result per database path (absolute), for a status page.
    public var lastResults: [String: Record] { results.withLock { $0 } }

    /// Verifies every `interval` until graceful shutdown or cancellation (an ongoing verification is cut short:
    /// its command is stopped and its temporary files removed by it).
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await Task.sleep(for: self.configuration.initialDelay)
            while true {
                await self.verifyAll()
                try await Task.sleep(for: self.configuration.interval)
            }
        }
    }

    /// Verifies each database once, now. Waits first (up to the verification timeout) for a replicator that is
    /// still starting or restarting; does nothing when replication is switched off.
    public func verifyAll() async {
        let deadline = ContinuousClock.now + configuration.timeout
        while [.stopped, .starting, .restarting].contains(supervisor.currentState), ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
        }
        if supervisor.currentState == .disabled {
            logger.debug("litestream: replication is switched off; nothing to verify")
            return
        }
        let databases: [String]
        if let configured = configuration.databases {
            databases = configured
        } else if !supervisor.configuration.databases.isEmpty {
            databases = supervisor.configuration.databases.map(\.path)
        } else {
            // A configuration file names the databases: ask the replicator which it has.
            databases = await supervisor.status().databases.map(\.path)
        }
        if databases.isEmpty {
            logger.warning("litestream: nothing to verify (no database, or the replicator does not answer)")
        }
        for database in databases {
            if Task.isCancelled { return }
            await verify(database)
        }
    }

    @discardableResult
    func verify(_ database: String) async -> VerificationResult {
        let path = ControlClient.absolutePath(database)
        let began = ContinuousClock.now
        let result = await supervisor.verify(path, timeout: configuration.timeout)
        let duration = ContinuousClock.now - began
        results.withLock {
            $0[path] = Record(result: result, finishedAt: Int64(Date().timeIntervalSince1970 * 1000), duration: duration)
        }
        Counter(label: "litestream_verifications_total", dimensions: [("result", result.name)]).increment()
        let metadata: Logger.Metadata = ["db": "\(path)", "duration": "\(duration)"]
        switch result {
        case .verified:
            logger.info("litestream: backup verified", metadata: metadata)
        case .failed(let reason):
            logger.error("litestream: backup verification failed: \(reason)", metadata: metadata)
        case .inconclusive(let reason):
            logger.warning("litestream: backup verification inconclusive: \(reason)", metadata: metadata)
        }
        return result
    }
}
