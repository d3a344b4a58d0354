#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// The watcher ends a wait when the WAL changes, including changes made while nobody waited (a steady writer
/// writes between the sync loop's waits), and not for other files in the directory.
@Suite(.timeLimit(.minutes(3))) struct WALWatcherTests {
    static func append(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(write(fd, "x", 1) == 1)
    }

    @Test func walChangesEndWaitsAndOtherFilesDoNot() async throws {
        let dir = try TestEnvironment.temporaryDirectory("walwatcher").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wal = dir + "/db-wal"
        try Self.append(wal)
        let watcher = WALWatcher(walPath: wal)
        // The first wait returns at once (the engine syncs when it starts).
        #expect(await WaitTiming.elapsed { await watcher.wait(timeout: WaitTiming.long) } < WaitTiming.late)

        // A change during a wait ends it.
        async let during = WaitTiming.elapsed { await watcher.wait(timeout: WaitTiming.long) }
        try await Task.sleep(for: .milliseconds(50))
        try Self.append(wal)
        #expect(await during < WaitTiming.late)

        // Changes between waits (queued while the watcher is not listening) end the next wait at once.
        for _ in 0..<3 {
            try Self.append(wal)
            try Self.append(wal)
            #expect(await WaitTiming.elapsed { await watcher.wait(timeout: WaitTiming.long) } < WaitTiming.late)
        }

        // Another file in the directory does not count, whether written between waits or during one.
        try Self.append(dir + "/other")
        let t = await WaitTiming.elapsed {
            async let waited = watcher.wait(timeout: .milliseconds(300))
            try? await Task.sleep(for: .milliseconds(50))
            try? Self.append(dir + "/other")
            _ = await waited
        }
        #expect(t >= .milliseconds(300) && t < WaitTiming.late, "ended by a file that is not the WAL")
        #expect(watcher.isEventDriven || !isLinux)
    }

    /// Under sustained writes the sync loop pauses the watcher while it sleeps out its interval and syncs right
    /// after `listen()`: writes while paused are not heard (that sync covers them), nor are events queued before
    /// `listen()`, but every write after it is.
    @Test(.enabled(if: WALWatcher(walPath: "/tmp/x-wal").isEventDriven))
    func pausedWatcherHearsNothingAndListenHearsWhatFollows() async throws {
        let dir = try TestEnvironment.temporaryDirectory("walwatcher-pause").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wal = dir + "/db-wal"
        try Self.append(wal)
        let watcher = WALWatcher(walPath: wal)
        _ = await WaitTiming.elapsed { await watcher.wait(timeout: WaitTiming.long) }  // the first wait returns at once

        // Paused: a write makes no event (the source is listening, so one would end the wait at once).
        watcher.pause()
        try Self.append(wal)
        watcher.listen()
        var t = await WaitTiming.elapsed { await watcher.wait(timeout: .milliseconds(300)) }
        #expect(t >= .milliseconds(300) && t < WaitTiming.late, "a write while paused was reported")

        // An event queued before listen() (the source is suspended after reporting one) is dropped.
        async let first = WaitTiming.elapsed { await watcher.wait(timeout: WaitTiming.long) }
        try await Task.sleep(for: .milliseconds(50))
        try Self.append(wal)
        #expect(await first < WaitTiming.late)
        try Self.append(wal)
        watcher.listen()
        t = await WaitTiming.elapsed { await watcher.wait(timeout: .milliseconds(300)) }
        #expect(t >= .milliseconds(300) && t < WaitTiming.late, "an event from before listen() ended the wait")

        // After listen(), writes are heard again.
        async let after = WaitTiming.elapsed { await watcher.wait(timeout: WaitTiming.long) }
        try await Task.sleep(for: .milliseconds(50))
        try Self.append(wal)
        #expect(await after < WaitTiming.late)
    }

    private var isLinux: Bool {
        #if os(Linux)
        true
        #else
        false
        #endif
    }
}
