#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@preconcurrency import Dispatch

/// Waits for SIGINT or SIGTERM.
enum Signals {
    static func wait(for signals: [Int32] = [SIGINT, SIGTERM]) async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            let queue = DispatchQueue(label: "litestream.signals")
            let box = SourceBox()
            for sig in signals {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                source.setEventHandler {
                    guard !box.fired else { return }
                    box.fired = true
                    for s in box.sources { s.cancel() }
                    // A second signal ends the process at once, as Litestream's second Ctrl-C does.
                    for s in signals { signal(s, SIG_DFL) }
                    c.resume(returning: sig)
                }
                box.sources.append(source)
                source.resume()
            }
        }
    }

    private final class SourceBox: @unchecked Sendable {  // confined to the signal queue
        var sources: [any DispatchSourceSignal] = []
        var fired = false
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
