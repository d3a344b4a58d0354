import LitestreamCore
public import LitestreamClient
import AsyncHTTPClient
import Foundation
import NIOHTTP1
public import Logging
import NIOCore
public import ServiceLifecycle

/// Litestream's `heartbeat-url`: a dead-man switch (healthchecks.io style). Every `interval`, if every database
/// synced within the interval and no replica lags more than it, an HTTP GET to `url`; when replication stalls the
/// pings stop and the monitoring service alerts. The URL is never logged with its query string or credentials.
public struct Heartbeat: Service {
    /// Litestream's minimum (and `heartbeat-interval`'s default is 5 minutes).
    public static let minimumInterval: Duration = .seconds(60)

    public let url: String
    public let interval: Duration
    private let server: ReplicationServer
    private let logger: Logger
    private let onPing: (@Sendable (Bool) -> Void)?

    /// - Parameters:
    ///   - url: pinged with a GET.
    ///   - interval: raised to one minute if shorter, as Litestream does.
    ///   - server: the databases whose health a ping vouches for.
    ///   - logger: where it reports failed pings.
    ///   - onPing: told after each check whether a ping was sent and succeeded (for tests).
    public init(url: String, interval: Duration = .seconds(300), server: ReplicationServer,
                logger: Logger = Logger(label: "litestream"), onPing: (@Sendable (Bool) -> Void)? = nil) {
        self.init(url: url, exactInterval: max(interval, Self.minimumInterval), server: server, logger: logger, onPing: onPing)
    }

    /// Without the one-minute floor (tests).
    init(url: String, exactInterval: Duration, server: ReplicationServer, logger: Logger,
         onPing: (@Sendable (Bool) -> Void)?) {
        self.url = url
        self.interval = exactInterval
        self.server = server
        self.logger = logger
        self.onPing = onPing
    }

    /// Whether every database synced within `interval` of `now` (Unix ms) and no replica lags more, with no
    /// errors: what a ping vouches for. False with no databases.
    public static func isHealthy(_ statuses: [ReplicationStatus], interval: Duration, now: Int64) -> Bool {
        let window = Double(interval.wholeMilliseconds) / 1000
        guard !statuses.isEmpty else { return false }
        return statuses.allSatisfy { s in
            guard let at = s.lastSyncAt, s.lastError == nil, Double(now - at) / 1000 <= window else { return false }
            return s.replicas.allSatisfy { $0.positionKnown && $0.lagSeconds <= window && $0.lastError == nil }
        }
    }

    /// `https://user:pw@host/ping/abc?key=x` → `https://host/ping/abc` (what may be logged).
    public static func redacted(_ url: String) -> String {
        var u = Substring(url)
        if let q = u.firstIndex(where: { $0 == "?" || $0 == "#" }) { u = u[..<q] }
        guard let scheme = u.range(of: "://") else { return String(u) }
        let rest = u[scheme.upperBound...]
        let hostEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<hostEnd].lastIndex(of: "@") else { return String(u) }
        return String(u[..<scheme.upperBound]) + rest[rest.index(after: at)...]
    }

    /// Checks and pings every `interval` (the first check one interval after start) until graceful shutdown (or
    /// cancellation), which also cancels a ping in flight.
    public func run() async {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                await check()
            }
        }
    }

    private func check() async {
        let safeURL = Self.redacted(url)
        guard Self.isHealthy(server.statuses(), interval: interval, now: POSIX.nowMilliseconds()) else {
            logger.debug("heartbeat skipped: replication not current", metadata: ["url": "\(safeURL)"])
            onPing?(false)
            return
        }
        do {
            var request = HTTPClientRequest(url: url)
            request.method = .GET
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            guard (200..<300).contains(response.status.code) else {
                logger.warning("heartbeat failed", metadata: ["url": "\(safeURL)", "status": "\(response.status.code)"])
                onPing?(false)
                return
            }
            logger.debug("heartbeat sent", metadata: ["url": "\(safeURL)"])
            onPing?(true)
        } catch {
            // AsyncHTTPClient's errors do not carry the URL, but be safe: describe only the error's type. A ping
            // cancelled at shutdown did not fail.
            if !Task.isCancelled {
                logger.warning("heartbeat failed", metadata: ["url": "\(safeURL)", "error": "\(type(of: error)): \(error)"])
            }
            onPing?(false)
        }
    }
}
