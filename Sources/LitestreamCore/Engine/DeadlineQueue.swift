@preconcurrency package import Dispatch
import Synchronization

/// Every timeout of the process in one place: a min-heap of deadlines behind one dispatch timer, armed for the
/// earliest. `DispatchQueue.asyncAfter` makes a timer source per call; with thousands of databases, each waiting
/// out a sync interval, a backoff or its next maintenance, that was a timer per database.
///
/// Callbacks run on one serial queue and must be short (they resume a continuation).
package final class DeadlineQueue: @unchecked Sendable {
    // @unchecked: `timer` is set once in init; the heap is behind `state`.

    package static let shared = DeadlineQueue()

    private struct Entry {
        var deadline: DispatchTime
        var id: UInt64
        var action: @Sendable () -> Void
    }

    private struct State {
        var heap: [Entry] = []
        var nextID: UInt64 = 0
        /// What the timer is armed for; nil when it is not armed.
        var armedFor: DispatchTime?
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "litestream.deadlines")
    private let timer: any DispatchSourceTimer

    private init() {
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [weak self] in self?.fire() }
        timer.activate()
    }

    /// The number of deadlines waiting (for tests).
    package var count: Int { state.withLock { $0.heap.count } }

    /// Runs `action` on the queue's thread at `deadline`.
    package func schedule(at deadline: DispatchTime, _ action: @escaping @Sendable () -> Void) {
        // The timer is re-armed under the lock, so that two callers never arm it out of order.
        state.withLock { s in
            s.nextID += 1
            push(&s.heap, Entry(deadline: deadline, id: s.nextID, action: action))
            if let armed = s.armedFor, armed <= deadline { return }
            s.armedFor = deadline
            timer.schedule(deadline: deadline, leeway: .milliseconds(1))
        }
    }

    private func fire() {
        let now = DispatchTime.now()
        let due = state.withLock { s -> [Entry] in
            var due: [Entry] = []
            while let first = s.heap.first, first.deadline <= now { due.append(pop(&s.heap)) }
            s.armedFor = s.heap.first?.deadline
            if let next = s.armedFor { timer.schedule(deadline: next, leeway: .milliseconds(1)) }
            return due
        }
        for e in due { e.action() }
    }

    private func less(_ a: Entry, _ b: Entry) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.id < b.id
    }

    private func push(_ heap: inout [Entry], _ e: Entry) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private func pop(_ heap: inout [Entry]) -> Entry {
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count, less(heap[l], heap[m]) { m = l }
            if r < heap.count, less(heap[r], heap[m]) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return top
    }
}
