import ArgumentParser
import Dispatch
import Litestream

/// The process's entry point. Deliberately synchronous: an `async` main parks the main thread in `dispatch_main()`,
/// which calls `pthread_exit()`, and glibc's forced unwind of that thread pages in the binary's unwind tables
/// (resident memory for nothing). Here the main thread just waits; the command runs on the
/// concurrency pool, as it did. Nothing of ours runs on the main actor or the main queue.
@main
enum LitestreamMain {
    static func main() {
        tuneMalloc()
        let arguments = LitestreamCommand.doubleDashed(Array(CommandLine.arguments.dropFirst()))
        let done = DispatchSemaphore(value: 0)
        // Detached: a plain Task would inherit main's main-actor isolation and wait for the blocked main thread.
        Task.detached {
            // ArgumentParser calls exit() itself for errors and exit codes; it returns only on success.
            await LitestreamCommand.main(arguments)
            done.signal()
        }
        done.wait()
    }
}

/// `litestream`: the same commands and flags as Litestream 0.5.17 (single- or double-dash), so its docs and
/// scripts work unchanged.
struct LitestreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "litestream",
        abstract: "Continuous replication of SQLite databases (compatible with Litestream 0.5.17).",
        version: LitestreamVersion.string,
        subcommands: [
            ReplicateCommand.self, RestoreCommand.self, LTXCommand.self, DatabasesCommand.self, StatusCommand.self,
            InfoCommand.self, ListCommand.self, SyncCommand.self, StartCommand.self, StopCommand.self,
            RegisterCommand.self, UnregisterCommand.self, ResetCommand.self, ConfigCommand.self, VersionCommand.self,
            PrepareCommand.self, VerifyCommand.self, InstallCommand.self,
        ]
    )

    /// Go's flag package reads `-name` as one flag, never as a cluster of one-letter flags; ArgumentParser reads an
    /// unknown `-name` as a cluster, so `restore -bogus x` became `-o x` and a complaint about a missing source.
    /// Every multi-letter flag accepts two dashes too, so spelling them that way changes nothing for known flags
    /// and makes an unknown one an error that names it. Go also takes the argument after a flag as its value even
    /// when it starts with a dash; ArgumentParser reads `-txid -1` as a flag without its value ("Missing value"), so
    /// a negative number after a multi-letter flag is joined to it (`--txid=-1`), and the flag's own check names
    /// the bad value. Nothing after `--` is touched; one-letter flags (`-o`, `-f`) are left as they are.
    static func doubleDashed(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var flagsEnded = false
        var i = arguments.startIndex
        while i < arguments.endIndex {
            let a = arguments[i]
            i += 1
            if a == "--" { flagsEnded = true }
            let name = a.dropFirst().prefix { $0 != "=" }
            guard !flagsEnded, a.hasPrefix("-"), !a.hasPrefix("--"), name.count > 1, name.first?.isLetter == true else {
                out.append(a)
                continue
            }
            if !a.contains("="), i < arguments.endIndex, isNegativeNumber(arguments[i]) {
                out.append("-" + a + "=" + arguments[i])
                i += 1
            } else {
                out.append("-" + a)
            }
        }
        return out
    }

    /// `-1`, `-0.5`, `-5s`: a dash and a digit.
    private static func isNegativeNumber(_ s: String) -> Bool {
        s.count > 1 && s.first == "-" && s.dropFirst().first?.isNumber == true
    }
}

/// Two glibc malloc settings, first thing in `main` (glibc fixes the arena limit when it first needs a second
/// arena). The environment still wins: `MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`, or either in `GLIBC_TUNABLES`.
///
/// - At most two arenas: glibc gives each thread that allocates under contention its own arena, and an arena keeps
///   its peak, and under a steady writer a replicator's peak RSS grew that way. Two are plenty for its few threads.
/// - A fixed mmap threshold of 128 KiB (glibc's starting value): by default glibc raises the threshold to the size
///   of every mapped block it frees, so after one compaction or large sync those blocks come from the heap, which
///   keeps its high-water mark: under a writer anonymous memory grew in steps over the first minute, differing
///   run to run. With the threshold fixed, large blocks go back to the system when freed.
///   `WALReader` keeps its scan buffer between syncs; an `LTXEncoder` maps its 264 KiB buffer afresh for each file
///   and touches only the pages that file fills.
private func tuneMalloc() {
    #if canImport(Glibc)
    // <malloc.h> is not in the Glibc module: look mallopt up. M_ARENA_MAX is -8 there, M_MMAP_THRESHOLD -3.
    guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    let mallopt = unsafeBitCast(sym, to: Mallopt.self)
    let tunables = getenv("GLIBC_TUNABLES").map { String(cString: $0) } ?? ""
    if getenv("MALLOC_ARENA_MAX") == nil, !tunables.contains("arena_max") { _ = mallopt(-8, 2) }
    if getenv("MALLOC_MMAP_THRESHOLD_") == nil, !tunables.contains("mmap_threshold") { _ = mallopt(-3, 128 << 10) }
    #endif
}

enum LitestreamVersion {
    /// Our version; `-verbose` also says which Litestream release we are compatible with.
    static let string = "0.1.0-dev"
    static let compatibleWith = "0.5.17"
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Prints the binary version.")

    @Flag(name: .litestream("verbose"), help: "Also print build and compatibility details.")
    var verbose = false

    func run() {
        print(LitestreamVersion.string)
        if verbose {
            print("litestream-swift, LTX format compatible with Litestream \(LitestreamVersion.compatibleWith)")
        }
    }
}

extension NameSpecification {
    /// `-name` and `--name`, as Go's flag package accepts both.
    static func litestream(_ name: String) -> NameSpecification {
        [.customLong(name, withSingleDash: true), .customLong(name)]
    }
}
