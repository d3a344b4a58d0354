import Foundation
import Testing

/// The Vapor and Hummingbird integrations, end to end: the fixture apps run as processes with their supervisor
/// and a real `litestream` child against moto. Serialized: each test runs apps, replicators and S3 traffic, and
/// the machines that run them have few cores.
@Suite(.serialized) struct FrameworkTests {
    /// Issue 15, test 1, and issue 16, test 2 (the example apps run as their READMEs say, on S3):
    /// writes over HTTP, SIGTERM to the app, and a restore holds every acknowledged write;
    /// the child's log lines appear in the app's log.
    @Test(arguments: FixtureApp.allCases)
    func sigtermShipsEveryAcknowledgedWrite(app: FixtureApp) throws {
        let setup = try Setup(app: app)
        let process = try AppProcess(setup)
        try process.waitUntilHealthy()

        var acknowledged: [Int: String] = [:]
        for i in 1...30 {
            let text = "row \(i)"
            acknowledged[try process.write(text, critical: i == 15)] = text
        }
        // The last writes came right before the signal: only the final sync on shutdown can have shipped them.
        #expect(try process.terminate() == 0, "\(process.log)")

        // The child's own lines, forwarded into the app's logger: its start and its final "shut down".
        let log = process.log
        #expect(log.contains("litestream shut down"), "no child log line in the app's log:\n\(log)")
        #expect(!log.contains("level=INFO msg="), "raw child lines instead of forwarded ones:\n\(log)")

        let restored = setup.dir.file("restored.sqlite")
        let restore = try run(try Env.litestream, ["restore", "-o", restored, setup.replica])
        #expect(restore.status == 0, "\(restore.stderr)")
        let rows = try sqlite(restored, "SELECT id || '|' || \(app.field) FROM \(app.table) ORDER BY id")
        let got = Dictionary(uniqueKeysWithValues: rows.map { row -> (Int, String) in
            let parts = row.split(separator: "|", maxSplits: 1)
            return (Int(parts[0]) ?? -1, parts.count > 1 ? String(parts[1]) : "")
        })
        for (id, text) in acknowledged {
            #expect(got[id] == text, "acknowledged write \(id) missing from the restore")
        }
        #expect(try sqlite(restored, "PRAGMA integrity_check") == ["ok"])
    }

    /// Issue 15, test 3, and issue 16, test 2: with the database deleted, the app restores it on boot and serves the old data; with a
    /// live database and a running replicator, a second instance's restore-on-boot leaves the file untouched.
    @Test(arguments: FixtureApp.allCases)
    func restoreOnBoot(app: FixtureApp) throws {
        let setup = try Setup(app: app)
        var first = try AppProcess(setup, name: "first")
        try first.waitUntilHealthy()
        var written: [Int] = []
        for i in 1...10 { written.append(try first.write("kept \(i)", critical: i == 10)) }
        #expect(try first.terminate() == 0, "\(first.log)")

        // The machine lost its disk: no database, no WAL.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: setup.database + suffix) }
        first = try AppProcess(setup, name: "restored")
        try first.waitUntilHealthy()
        let served = try first.rows()
        #expect(served.map(\.id) == written)
        #expect(served.first?.text == "kept 1")

        // A second instance boots while the first still runs (a zero-downtime deploy): its restore-on-boot (the
        // app's `litestream prepare`, with the app's configuration) must not touch the live database.
        _ = try first.write("while the second boots")
        let before = try FileFingerprint(setup.database)
        let second = try run(try app.executable, ["litestream", "prepare", "-json"],
                             environment: setup.environment(extra: ["LITESTREAM_SOCKET": setup.dir.file("second.sock")]),
                             directory: setup.dir.path)
        #expect(second.status == 0, "\(second.stderr)")
        let after = try FileFingerprint(setup.database)
        #expect(after == before, "the second instance changed the live database")
        let report = second.stdout.filter { !$0.isWhitespace }
        #expect(report.contains(#""action":"exists""#), "\(second.stdout)")
        #expect(report.contains(#""switchedToWAL":false"#), "\(second.stdout)")
        #expect(try first.rows().count == written.count + 1)
        #expect(try first.terminate() == 0)
    }

    /// Issue 15, test 6: the health route answers 200, then 503 once the replica has been unreachable past the
    /// lag limit; the dashboard refuses a request without credentials, and a real browser shows the database's
    /// path and lag.
    @Test(arguments: FixtureApp.allCases)
    func healthAndDashboard(app: FixtureApp) throws {
        // An S3 server of this test's own, so that it can be taken away.
        let moto = try PrivateMoto()
        var setup = try Setup(app: app, endpoint: moto.endpoint)
        setup.maximumLag = 3
        let process = try AppProcess(setup)
        try process.waitUntilHealthy()
        _ = try process.write("first", critical: true)
        let healthy = try http(process.base + "/litestream/health")
        #expect(healthy.status == 200)
        #expect(healthy.body.contains(#""healthy":true"#), "\(healthy.body)")

        // Without credentials, with wrong ones: refused; never the page.
        let anonymous = try http(process.base + "/litestream")
        #expect(anonymous.status == 401)
        #expect(!anonymous.body.contains(setup.database))
        #expect(try http(process.base + "/litestream", user: "litestream:wrong").status == 401)
        let page = try http(process.base + "/litestream", user: "litestream:\(setup.password)")
        #expect(page.status == 200)
        #expect(page.body.contains(setup.database))

        // The browser: the page as rendered (DOM text) and a screenshot, with the credentials in the URL.
        let url = "http://litestream:\(setup.password)@127.0.0.1:\(process.port)/litestream"
        let browser = try Chromium(profile: setup.dir.file("chromium-profile"))
        let dom = try browser.dumpDOM(url)
        #expect(dom.contains(setup.database), "\(dom)")
        #expect(dom.contains("Lag") && dom.contains("0 s ("), "\(dom)")
        #expect(dom.contains("running"))
        let screenshot = setup.dir.file("dashboard-\(app.rawValue).png")
        try browser.screenshot(url, to: screenshot)
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(png.count > 10_000, "a blank screenshot is a few KB")
        if let keep = Env.environment["FRAMEWORK_SCREENSHOT_DIR"] {
            try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            try? png.write(to: URL(fileURLWithPath: keep).appendingPathComponent("dashboard-\(app.rawValue).png"))
        }

        // The replica goes away; a write then waits for it, and past the lag limit the health check says so.
        moto.stop()
        _ = try process.write("stuck")
        var unhealthy = HTTPResult(status: 0, body: "")
        try eventually("health to answer 503", timeout: .seconds(60)) {
            unhealthy = try http(process.base + "/litestream/health")
            return unhealthy.status == 503
        }
        #expect(unhealthy.body.contains(#""healthy":false"#))
        #expect(unhealthy.body.contains("lag") || unhealthy.body.contains("position unknown"), "\(unhealthy.body)")
        try process.terminate()
    }

    /// Issue 15, test 7: commands through the app print the same and exit with the same status as the
    /// `litestream` executable given the same arguments (and the same configuration and socket).
    @Test(arguments: FixtureApp.allCases)
    func commandsThroughTheApp(app: FixtureApp) throws {
        let setup = try Setup(app: app)
        let server = try AppProcess(setup)
        try server.waitUntilHealthy()
        for i in 1...3 { _ = try server.write("cmd \(i)", critical: true) }

        let litestream = try Env.litestream
        // The production environment of the app (its LITESTREAM_SOCKET included) and, for the executable, the
        // configuration file the app runs with.
        let appEnvironment = setup.environment()
        let shared = appEnvironment.merging(["LITESTREAM_CONFIG": setup.dir.file("config/litestream.yml")]) { $1 }
        // Each case: the arguments, whether the command succeeds, and a text its output must hold, so that two
        // identical failures (a missing socket, say) cannot pass for agreement.
        let copy = setup.dir.file("copy.sqlite")
        let cases: [(arguments: [String], succeeds: Bool, shows: String?)] = [
            (["databases"], true, setup.database),
            (["ltx", setup.database], true, "0000000000000001"),
            (["status"], true, setup.database),
            (["status", setup.database, "-json"], true, "positionKnown"),
            (["list"], true, setup.database),
            (["restore", "-o", copy, setup.database], true, nil),
            // Issue 16: install through the app's own command line (on the example itself; a dry run writes nothing).
            (["install", "-dry-run", "-package-path", app.directory.path], true, "Summary:"),
            // Help, and the flags ConsoleKit and Vapor take for themselves wherever they are (-h, -y, -n, -e).
            (["-h"], true, "restore"),
            (["restore", "-h"], true, nil),
            (["databases", "-y"], false, nil),
            (["databases", "-no-such-flag"], false, nil),
            (["ltx"], false, nil),
            (["no-such-command"], false, nil),
        ]
        for (arguments, succeeds, shows) in cases {
            // The copy `restore` makes must not exist for either run.
            try? FileManager.default.removeItem(atPath: copy)
            let direct = try run(litestream, arguments, environment: shared, directory: setup.dir.path)
            try? FileManager.default.removeItem(atPath: copy)
            let through = try run(try app.executable, ["litestream"] + arguments, environment: appEnvironment,
                                  directory: setup.dir.path)
            #expect((direct.status == 0) == succeeds, "\(arguments): litestream exited \(direct.status)\n\(direct.stderr)")
            if let shows { #expect(direct.stdout.contains(shows), "\(arguments): \(direct.stdout)") }
            #expect(through.status == direct.status,
                    "\(arguments): exit \(through.status) through the app, \(direct.status) directly\n\(through.stderr)")
            #expect(withoutRequestCounts(through.stdout) == withoutRequestCounts(direct.stdout),
                    "\(arguments): stdout differs\n--- app\n\(through.stdout)\n--- litestream\n\(direct.stdout)")
            if arguments.contains("-o") {
                #expect(FileManager.default.fileExists(atPath: copy), "restore through the app made no copy")
            }
        }
        try server.terminate()
    }
}

/// Inode, size and bytes of a file: "untouched" means all three are the same.
struct FileFingerprint: Equatable {
    var inode: UInt64
    var bytes: Data

    init(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw Failure("stat \(path): \(errno)") }
        inode = UInt64(st.st_ino)
        bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    }
}

/// A moto_server of one test's own, on a free port: stopping it makes the replica unreachable.
final class PrivateMoto {
    let process = Process()
    let endpoint: String

    init() throws {
        let port = try freePort()
        endpoint = "http://127.0.0.1:\(port)"
        process.executableURL = URL(fileURLWithPath: try Env.motoServer())
        process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try eventually("moto_server on \(port)", timeout: .seconds(60)) {
            try http(endpoint + "/", timeout: 2).status == 200
        }
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// Debian's headless chromium.
struct Chromium {
    let path: String
    let profile: String

    init(profile: String) throws {
        self.profile = profile
        let candidates = [Env.environment["CHROMIUM"], "/usr/bin/chromium", "/usr/bin/chromium-browser"].compactMap { $0 }
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Failure("chromium not found (apt-get install chromium; scripts/test.sh does)")
        }
        self.path = path
    }

    /// Flags for a container: no sandbox (root, no user namespaces), no GPU, no first-run work.
    private var flags: [String] {
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--hide-scrollbars", "--user-data-dir=\(profile)"]
    }

    func dumpDOM(_ url: String) throws -> String {
        let result = try run(path, flags + ["--dump-dom", url], timeout: .seconds(60))
        guard result.status == 0 else { throw Failure("chromium --dump-dom: \(result.status) \(result.stderr)") }
        return result.stdout
    }

    func screenshot(_ url: String, to file: String) throws {
        let result = try run(path, flags + ["--screenshot=\(file)", "--window-size=1280,900", url], timeout: .seconds(60))
        guard result.status == 0, FileManager.default.fileExists(atPath: file) else {
            throw Failure("chromium --screenshot: \(result.status) \(result.stderr)")
        }
    }
}

/// `status -json` without its request counters: they move on their own between two runs (a scheduled compaction
/// lists and writes while nothing is committed), so only the rest must be the same through the app and directly.
func withoutRequestCounts(_ output: String) -> String {
    let counters = ["\"delete\"", "\"get\"", "\"head\"", "\"list\"", "\"put\""]
    return output.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return !counters.contains { trimmed.hasPrefix($0) }
    }.joined(separator: "\n")
}
