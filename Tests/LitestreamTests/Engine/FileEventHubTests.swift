import Foundation
import Synchronization
import Testing

@testable import LitestreamCore

#if canImport(Glibc)
import Glibc
#endif

/// The process's one inotify instance, shared by every database of a directory of tenants.
@Suite(.ownThreads, .enabled(if: FileEventHub.shared != nil, "needs inotify (Linux)"))
struct FileEventHubTests {
    /// The kernel's mask for the hub's watch of `directory` (from `/proc/self/fdinfo` of the inotify descriptor),
    /// or nil when the directory is not watched.
    static func kernelMask(of directory: String) throws -> UInt32? {
        var st = stat()
        guard stat(directory, &st) == 0 else { throw POSIXError(.ENOENT) }
        let inode = String(st.st_ino, radix: 16)
        for name in try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + name),
                target == "anon_inode:inotify"
            else { continue }
            let info = try String(contentsOfFile: "/proc/self/fdinfo/" + name, encoding: .utf8)
            // inotify wd:1 ino:a3f sdev:800001 mask:2 ignored_mask:0 fhandle-bytes:…
            for line in info.split(separator: "\n") where line.hasPrefix("inotify ") {
                let fields = Dictionary(line.split(separator: " ").compactMap { f -> (String, String)? in
                    let kv = f.split(separator: ":", maxSplits: 1)
                    return kv.count == 2 ? (String(kv[0]), String(kv[1])) : nil
                }, uniquingKeysWith: { a, _ in a })
                if fields["ino"] == inode, let mask = fields["mask"].flatMap({ UInt32($0, radix: 16) }) { return mask }
            }
        }
        return nil
    }

    /// The kernel's mask is always the union of the subscribers' masks, through subscribe, setMask and
    /// unsubscribe, and the watch goes with its last subscriber.
    @Test func theWatchMaskIsTheUnionOfItsSubscribers() throws {
        let hub = try #require(FileEventHub.shared)
        let dir = try TestEnvironment.temporaryDirectory("hub-mask")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (modify, close, create) = (UInt32(IN_MODIFY), UInt32(IN_CLOSE_WRITE), UInt32(IN_CREATE))
        let a = try #require(hub.subscribe(directory: dir.path, name: "a", mask: modify) { _ in })
        let b = try #require(hub.subscribe(directory: dir.path, name: "b", mask: close | modify) { _ in })
        #expect(try Self.kernelMask(of: dir.path) == modify | close)
        hub.setMask(a, create)
        #expect(try Self.kernelMask(of: dir.path) == create | close | modify)
        hub.setMask(b, close)
        #expect(try Self.kernelMask(of: dir.path) == create | close)
        hub.unsubscribe(b)
        #expect(try Self.kernelMask(of: dir.path) == create)
        hub.unsubscribe(a)
        #expect(try Self.kernelMask(of: dir.path) == nil)
    }

    /// Tens of thousands of tenants in one directory: each subscription, mask change and unsubscription costs
    /// the same whatever the number of others. Each once copied the directory's table of subscribers, and each
    /// mask change (two per sync of every database) went over all of them: at 40,000 that is minutes; now about
    /// a second. An event still reaches only the subscriber of its file name.
    @Test(.timeLimit(.minutes(2))) func thousandsOfSubscribersInOneDirectoryCostLinearTime() throws {
        let hub = try #require(FileEventHub.shared)
        let dir = try TestEnvironment.temporaryDirectory("hub-many")
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 40_000
        let heard = Mutex<[Int]>([])
        let start = ContinuousClock.now
        var tokens: [FileEventHub.Token] = []
        for i in 0..<n {
            if i % 1000 == 0, ContinuousClock.now - start > .seconds(20) { break }
            tokens.append(try #require(hub.subscribe(directory: dir.path, name: "t\(i)-wal", mask: UInt32(IN_MODIFY)) { _ in
                heard.withLock { $0.append(i) }
            }))
        }
        for (i, t) in tokens.enumerated() {
            hub.setMask(t, 0)
            hub.setMask(t, UInt32(IN_MODIFY))
            // A quadratic hub would take minutes: stop at the bound rather than wait for it.
            if i % 1000 == 0, ContinuousClock.now - start > .seconds(20) { break }
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < .seconds(20), "\(n) subscriptions and \(2 * n) mask changes took \(elapsed)")

        let target = 12_345
        #expect(FileManager.default.createFile(atPath: dir.path + "/t\(target)-wal", contents: nil))
        let fd = open(dir.path + "/t\(target)-wal", O_WRONLY)
        #expect(write(fd, "x", 1) == 1)
        close(fd)
        let deadline = ContinuousClock.now + .seconds(10)
        while heard.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline {
            hub.drain()
            usleep(10_000)
        }
        #expect(Set(heard.withLock { $0 }) == [target])

        let stop = ContinuousClock.now
        for t in tokens { hub.unsubscribe(t) }
        #expect(ContinuousClock.now - stop < .seconds(20))
        #expect(try Self.kernelMask(of: dir.path) == nil)
    }
}
