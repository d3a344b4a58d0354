public import LitestreamClient
public import LTX
import Synchronization

/// A running replicator's status and controls, safe to use from any task: what the control socket, `status`,
/// metrics and an app supervisor read, and how they ask for an immediate sync.
public final class ReplicationMonitor: Sendable {
    /// A local L0 file that some replica may not have yet.
    struct PendingFile: Sendable {
        var maxTXID: TXID
        var bytes: Int64
        /// When it was written locally, Unix ms.
        var writtenAt: Int64
    }

    fileprivate struct Waiter {
        var id: Int
        var isSatisfied: (State) -> Bool
        var continuation: CheckedContinuation<Bool, Never>
    }

    fileprivate struct State {
        var status: ReplicationStatus
        var pending: [PendingFile] = []
        var syncRequested = 0
        var syncServed = 0
        /// The newest sync request that also waits for the replicas (`sync -wait`).
        var uploadTicket = 0
        /// Where the sync that served such a request left the database: replicas upload up to it at once,
        /// whatever their sync interval.
        var uploadRequested = TXID.zero
        var running = false
        var waiters: [Waiter] = []
        var nextWaiterID = 0
        var wake: (@Sendable () -> Void)?
    }

    private let state: Mutex<State>
    /// Each replica's request counts, read when a status is asked for (the clients count as they send).
    private let requestCounts: [@Sendable () -> RequestCounts?]

    /// The database's wake-ups (sync loop, uploaders, WAL polls): none while it is idle.
    package let wakeups = WakeupCounters()

    init(path: String, replicas: [ReplicaStatus], requestCounts: [@Sendable () -> RequestCounts?] = []) {
        state = Mutex(State(status: ReplicationStatus(path: path, replicas: replicas)))
        self.requestCounts = requestCounts
    }

    /// The current status, with lags computed for now.
    public func status() -> ReplicationStatus { status(now: POSIX.nowMilliseconds()) }

    /// The current status, with lags computed for `now` (Unix ms).
    public func status(now: Int64) -> ReplicationStatus {
        let requests = requestCounts.map { $0() }
        return state.withLock { s in
            var status = s.status
            for (i, r) in requests.enumerated() where status.replicas.indices.contains(i) {
                status.replicas[i].requests = r
            }
            for i in status.replicas.indices {
                let r = status.replicas[i]
                let behind = s.pending.filter { $0.maxTXID > r.txid }
                status.replicas[i].pendingFiles = behind.count
                status.replicas[i].lagBytes = behind.reduce(0) { $0 + $1.bytes }
                if let oldest = behind.first {
                    status.replicas[i].lagSeconds = Double(max(0, now - oldest.writtenAt)) / 1000
                } else if !r.positionKnown, let since = s.status.lastSyncAt {
                    status.replicas[i].lagSeconds = Double(max(0, now - since)) / 1000
                }
            }
            return status
        }
    }

    /// Asks the replicator to sync now and returns the local TXID after that sync. With `waitForReplicas`, the
    /// replicas upload it at once, whatever their sync interval, and this returns only once every replica holds
    /// that TXID (`litestream sync -wait`).
    public func sync(waitForReplicas: Bool = false, timeout: Duration = .seconds(30)) async throws -> TXID {
        let (ticket, wake) = state.withLock { s -> (Int, (@Sendable () -> Void)?) in
            s.syncRequested += 1
            if waitForReplicas { s.uploadTicket = s.syncRequested }
            return (s.syncRequested, s.wake)
        }
        guard let wake else { throw EngineError(.notRunning, "replication of \(path) is not running") }
        wake()
        let deadline = ContinuousClock.now + timeout
        guard await wait(until: deadline, { $0.syncServed >= ticket || !$0.running }) else {
            throw EngineError(.timeout, "no sync of \(path) within \(timeout)")
        }
        let txid = state.withLock { $0.status.localTXID }
        if waitForReplicas {
            guard await wait(until: deadline, { s in
                s.status.replicas.allSatisfy { $0.txid >= txid || $0.stopped != nil } || !s.running
            }) else {
                let behind = status().replicas.filter { $0.txid < txid }.map(\.name)
                throw EngineError(.timeout,
                    "replica(s) \(behind.joined(separator: ", ")) of \(path) did not reach TXID \(txid) within \(timeout)")
            }
        }
        if !state.withLock({ $0.running }) { throw EngineError(.notRunning, "replication of \(path) stopped") }
        if waitForReplicas, let r = status().replicas.first(where: { $0.stopped != nil && $0.txid < txid }) {
            throw EngineError(.foreignWriter, "replica \(r.name) of \(path) does not have TXID \(txid): \(r.stopped!)")
        }
        return txid
    }

    public var path: String { state.withLock { $0.status.path } }

    /// Whether the replicator's loop is running (sync requests are served only then).
    public var isRunning: Bool { state.withLock { $0.running } }

    // MARK: updates from the replicator

    func started(wake: @escaping @Sendable () -> Void) {
        update { s in
            s.running = true
            s.wake = wake
            s.status.lastError = nil
        }
    }

    /// The database could not be opened (the replicator retries).
    func openFailed(_ error: any Error) {
        update { $0.status.lastError = "\(error)" }
    }

    func stopped() {
        update { s in
            s.running = false
            s.wake = nil
        }
    }

    /// Sync requests made up to now are served by the sync that is about to start.
    func syncStarting() -> Int { state.withLock { $0.syncRequested } }

    /// Whether a sync request waits for a sync that has not begun yet.
    var hasPendingSyncRequest: Bool { state.withLock { $0.syncRequested > $0.syncServed } }

    /// What the last served `sync -wait` asked the replicas to hold now: they upload up to it without waiting out
    /// their sync interval.
    var uploadRequested: TXID { state.withLock { $0.uploadRequested } }

    /// Records a sync; returns whether it served a sync request that waits for the replicas, not served before
    /// (the uploaders must then upload at once, whatever their interval).
    @discardableResult
    func synced(position: TXID, written: [PendingFile], servedRequests: Int, at now: Int64,
                checkpoint: Duration? = nil) -> Bool {
        var served = false
        update { s in
            if servedRequests >= s.uploadTicket && s.uploadTicket > s.syncServed {
                served = true
                s.uploadRequested = max(s.uploadRequested, position)
            }
            if let checkpoint {
                s.status.checkpointCount += 1
                s.status.checkpointSeconds += checkpoint.inSeconds
            }
            s.status.localTXID = position
            s.status.lastSyncAt = now
            s.status.lastError = nil
            s.status.syncCount += 1
            s.pending.append(contentsOf: written)
            s.syncServed = max(s.syncServed, servedRequests)
        }
        return served
    }

    /// Something an operator should know of happened to the database, and replication went on (see
    /// `ReplicationStatus.lastEvent`).
    /// The engine's connections were closed while idle (true), or opened again (false).
    func connectionsClosed(_ closed: Bool) {
        update { $0.status.connectionsClosed = closed ? true : nil }
    }

    func databaseEvent(_ event: String, at now: Int64) {
        update { s in
            s.status.lastEvent = event
            s.status.lastEventAt = now
        }
    }

    func syncFailed(_ error: any Error) {
        update { s in
            s.status.lastError = "\(error)"
            s.status.syncErrorCount += 1
        }
    }

    func replica(_ index: Int, knownAt txid: TXID) {
        update { s in
            s.status.replicas[index].txid = txid
            s.status.replicas[index].positionKnown = true
            s.prunePending()
        }
    }

    func replica(_ index: Int, uploadedThrough txid: TXID, at now: Int64) {
        update { s in
            let previous = s.status.replicas[index].txid
            s.status.replicas[index].uploadBytes += s.pending.filter { $0.maxTXID > previous && $0.maxTXID <= txid }
                .reduce(0) { $0 + $1.bytes }
            s.status.replicas[index].txid = txid
            s.status.replicas[index].positionKnown = true
            s.status.replicas[index].lastUploadAt = now
            s.status.replicas[index].lastError = nil
            s.status.replicas[index].lastErrorAt = nil
            s.prunePending()
        }
    }

    /// The replica's worker stopped writing to it for good (another process writes to it).
    func replica(_ index: Int, halted error: any Error, at now: Int64) {
        update { s in
            s.status.replicas[index].stopped = "\(error)"
            s.status.replicas[index].lastError = "\(error)"
            s.status.replicas[index].lastErrorAt = now
            s.status.replicas[index].errorCount += 1
            s.prunePending()
        }
    }

    func replica(_ index: Int, failed error: any Error, at now: Int64) {
        update { s in
            s.status.replicas[index].lastError = "\(error)"
            s.status.replicas[index].lastErrorAt = now
            s.status.replicas[index].errorCount += 1
        }
    }

    /// The lowest TXID every replica is known to hold (zero while any position is unknown).
    var slowestReplicaTXID: TXID {
        state.withLock { s in
            s.status.replicas.filter { $0.stopped == nil }.map { $0.positionKnown ? $0.txid : .zero }.min()
                ?? s.status.localTXID
        }
    }

    private func update(_ body: (inout State) -> Void) {
        let ready = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            body(&s)
            var ready: [CheckedContinuation<Bool, Never>] = []
            var waiting: [Waiter] = []
            for w in s.waiters {
                if w.isSatisfied(s) { ready.append(w.continuation) } else { waiting.append(w) }
            }
            s.waiters = waiting
            return ready
        }
        for c in ready { c.resume(returning: true) }
    }

    /// Waits until `condition` holds or `deadline` passes; false on timeout or cancellation.
    private func wait(until deadline: ContinuousClock.Instant, _ condition: @escaping @Sendable (State) -> Bool) async -> Bool {
        let id = state.withLock { s -> Int in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                        // Decided under the lock, so that exactly one of this, `update` or `cancelWaiter` resumes.
                        let immediate = self.state.withLock { s -> Bool? in
                            if condition(s) { return true }
                            if Task.isCancelled { return false }
                            s.waiters.append(Waiter(id: id, isSatisfied: condition, continuation: c))
                            return nil
                        }
                        if let immediate { c.resume(returning: immediate) }
                    }
                } onCancel: {
                    self.cancelWaiter(id)
                }
            }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private func cancelWaiter(_ id: Int) {
        let c = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return s.waiters.remove(at: i).continuation
        }
        c?.resume(returning: false)
    }
}

extension ReplicationMonitor.State {
    /// Forgets local files every replica has.
    fileprivate mutating func prunePending() {
        // A stopped replica never catches up in this run: it holds nothing back.
        let slowest = status.replicas.filter { $0.stopped == nil }.map(\.txid).min() ?? status.localTXID
        pending.removeAll { $0.maxTXID <= slowest }
    }
}
