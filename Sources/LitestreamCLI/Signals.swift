#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@preconcurrency import Dispatch

/// Waits for SIGINT or SIGTERM.
enum Signals {
    /// Returns the signal received, or nil if the task was cancelled first.
    static func wait(for signals: [Int32] = [SIGINT, SIGTERM]) async -> Int32? {
        let box = Box()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Int32?, Never>) in
                box.queue.sync {
                    if box.cancelled { c.resume(returning: nil); return }
                    box.continuation = c
                    for sig in signals {
                        signal(sig, SIG_IGN)
                        let source = DispatchSource.makeSignalSource(signal: sig, queue: box.queue)
                        source.setEventHandler {
                            // A second signal ends the process at once, as Litestream's second Ctrl-C does.
                            for s in signals { signal(s, SIG_DFL) }
                            box.finish(sig)
                        }
                        box.sources.append(source)
                        source.resume()
                    }
                }
            }
        } onCancel: {
            box.queue.async {
                box.cancelled = true
                box.finish(nil)
            }
        }
    }

    /// State confined to `queue`.
    private final class Box: @unchecked Sendable {
        let queue = DispatchQueue(label: "litestream.signals")
        var sources: [any DispatchSourceSignal] = []
        var continuation: CheckedContinuation<Int32?, Never>?
        var cancelled = false

        func finish(_ sig: Int32?) {
            for s in sources { s.cancel() }
            sources = []
            continuation?.resume(returning: sig)
            continuation = nil
        }
    }
}

/// Processes started from some runtimes inherit a mask that blocks SIGINT and SIGTERM; undo that so that
/// `replicate` always gets its chance to do a final sync.
func unblockTerminationSignals() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}
