@preconcurrency import Dispatch
import Synchronization

/// Threads of the engine's own, for its blocking work: SQLite calls, reading the WAL, encoding, writing and
/// fsyncing files.
///
/// Swift concurrency's cooperative pool has one thread per core and assumes nobody blocks it. An fsync waiting on
/// a slow disk there holds a thread that the control socket, the metrics endpoint and, in an app that embeds the
/// engine, the app's own requests need: with two cores, two databases doing so stop all of them. `Replicator` runs
/// every public entry point with this executor as its task's executor preference, so the engine's tasks and their
/// child tasks run here.
///
/// Threads start when a job finds none idle, up to `maxThreads`, and then stay (a replicator's loop sleeps and wakes
/// all day); one database keeps two (its sync loop and its uploader).
package final class EngineExecutor: TaskExecutor {
    /// Shared by every replicator of the process. 16 threads: enough for that many databases blocked at once on
    /// the disk, with no cost until they are needed.
    static let shared = EngineExecutor(maxThreads: 16)

    private struct State {
        var jobs: [UnownedJob] = []
        var head = 0
        /// Threads waiting for a job, or started and about to.
        var idle = 0
        var threads = 0
    }

    let maxThreads: Int
    private let state = Mutex(State())
    /// Counts queued jobs: each `wait` of an idle thread takes one.
    private let queued = DispatchSemaphore(value: 0)

    init(maxThreads: Int) {
        precondition(maxThreads > 0)
        self.maxThreads = maxThreads
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        // From one of our threads, the job usually continues work that thread is about to leave (a hop, a
        // resumed continuation): it runs there next, without waking another thread for it, which would cost a
        // context switch per hop. The price: a job that resumes another task and then blocks delays it; the
        // engine's jobs resume others (WakeSignal) just before they suspend. So engine code must never block
        // waiting for an engine task it resumed (it may sit in this very slot): blocking producers, like the S3
        // body writer feeding `PartHandoff`, run on threads of their own, and `assertMayBlock` checks it.
        if let worker = Worker.current, worker.executor === self, worker.next == nil {
            worker.next = job
            return
        }
        let startThread = state.withLock { s -> Bool in
            s.jobs.append(job)
            // More jobs waiting than threads waiting for one: another thread, if allowed.
            guard s.jobs.count - s.head > s.idle, s.threads < maxThreads else { return false }
            s.threads += 1
            s.idle += 1
            return true
        }
        queued.signal()
        if startThread { start() }
    }

    /// How many threads have started (tests).
    var threadCount: Int { state.withLock { $0.threads } }

    /// Whether the calling thread is one of the engine's (tests use it).
    static var isCurrentThread: Bool { Worker.current != nil }

    /// For code that blocks its thread until another task acts (`PartHandoff.offer`): in debug builds, traps on an
    /// engine thread, where that task may sit in this thread's next-job slot (see `enqueue`) and never run.
    package static func assertMayBlock(_ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
        assert(!isCurrentThread, "\(what()) blocks an engine thread, which may hold the task it waits for", file: file, line: line)
    }

    /// A thread's own state, reachable from the thread alone.
    private final class Worker {
        unowned let executor: EngineExecutor
        /// The job to run after the current one.
        var next: UnownedJob?

        init(executor: EngineExecutor) { self.executor = executor }

        private static let key: pthread_key_t = {
            var key = pthread_key_t()
            precondition(pthread_key_create(&key, nil) == 0, "cannot create a thread-specific key")
            return key
        }()

        static var current: Worker? {
            pthread_getspecific(key).map { Unmanaged<Worker>.fromOpaque($0).takeUnretainedValue() }
        }

        /// Makes this the calling thread's worker, for as long as the thread lives.
        func install() { pthread_setspecific(Self.key, Unmanaged.passRetained(self).toOpaque()) }
    }

    /// A thread's life: take a job, run it and whatever it left for this thread, wait for the next.
    private func work() {
        let executor = asUnownedTaskExecutor()
        let worker = Worker(executor: self)
        worker.install()
        while true {
            queued.wait()
            let job = state.withLock { s -> UnownedJob in
                s.idle -= 1
                let job = s.jobs[s.head]
                s.head += 1
                // Drop what was run once the queue is drained, or when the run part dominates.
                if s.head == s.jobs.count || s.head >= 64 && s.head * 2 >= s.jobs.count {
                    s.jobs.removeFirst(s.head)
                    s.head = 0
                }
                return job
            }
            var next: UnownedJob? = job
            while let job = next {
                job.runSynchronously(on: executor)
                next = worker.next
                worker.next = nil
            }
            state.withLock { $0.idle += 1 }
        }
    }

    private func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        #if canImport(Glibc)
        var thread = pthread_t()
        let body: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { context in
            Unmanaged<EngineExecutor>.fromOpaque(context!).takeRetainedValue().work()
            return nil
        }
        #else
        var thread: pthread_t?
        let body: @convention(c) (UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? = { context in
            Unmanaged<EngineExecutor>.fromOpaque(context).takeRetainedValue().work()
            return nil
        }
        #endif
        let rc = pthread_create(&thread, nil, body, context)
        precondition(rc == 0, "cannot start an engine thread: \(String(cString: strerror(rc)))")
        #if canImport(Glibc)
        pthread_detach(thread)
        #else
        pthread_detach(thread!)
        #endif
    }
}
