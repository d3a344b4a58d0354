import Metrics

/// The supervisor's own swift-metrics, in whatever backend the app bootstrapped (none: they cost nothing).
/// The replication metrics themselves (lag, TXIDs) come from the child: its `addr:` endpoint, or the status.
struct SupervisorMetrics: Sendable {
    /// `litestream_supervisor_restarts_total`: replicators restarted after they died.
    private let restarts: Counter
    /// `litestream_supervisor_child_up`: 1 while the replicator answers on its control socket, else 0.
    private let childUp: Gauge

    /// `factory`: the process's bootstrapped backend unless a test brings its own.
    init(factory: any MetricsFactory = MetricsSystem.factory) {
        restarts = Counter(label: "litestream_supervisor_restarts_total", factory: factory)
        childUp = Gauge(label: "litestream_supervisor_child_up", factory: factory)
    }

    func restarted() { restarts.increment() }

    func childIsUp(_ up: Bool) { childUp.record(up ? 1 : 0) }
}
