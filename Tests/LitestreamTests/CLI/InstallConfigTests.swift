import Foundation
import Testing

/// The configuration files `litestream install` writes, read by our `litestream` and by Litestream 0.5.17: both
/// accept them with LITESTREAM_REPLICA_REGION and LITESTREAM_REPLICA_ENDPOINT unset, both honour every variable
/// that is set, neither prints the secret, and both put the development file's `backups/` in the working directory.
@Suite(.ownThreads) struct InstallConfigTests {
    typealias App = InstallCommandTests.App

    /// An installed Vapor fixture app with its database (WAL, one row) at data/db.sqlite.
    static func installedApp(_ name: String) throws -> App {
        let app = try InstallCommandTests.vaporApp(name)
        let r = try app.install()
        try #require(r.status == 0, "install: \(r.stderr)")
        try FileManager.default.createDirectory(atPath: app.path("data"), withIntermediateDirectories: true)
        try TestEnvironment.sqlite3(app.path("data/db.sqlite"), "PRAGMA journal_mode=wal; CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('one');")
        return app
    }

    /// `EXECUTABLE ARGS` in the app's directory (as the app runs it), with `set` and without `unset` (and without
    /// AWS_CA_BUNDLE, which 0.5.17 cannot start with).
    static func run(in app: App, _ executable: String, _ args: [String], set: [String: String], unset: [String] = [])
        throws -> (status: Int32, stdout: String, stderr: String)
    {
        let unsets = (unset + ["AWS_CA_BUNDLE"]).flatMap { ["-u", $0] }
        return try TestEnvironment.run("env", ["-C", app.dir.path] + unsets + [executable] + args, environment: set, timeout: .seconds(60))
    }

    static let regionAndEndpoint = ["LITESTREAM_REPLICA_REGION", "LITESTREAM_REPLICA_ENDPOINT"]
    static let credentials = ["LITESTREAM_REPLICA_BUCKET": "the-bucket", "LITESTREAM_ACCESS_KEY_ID": "AKIDMARKER",
                              "LITESTREAM_SECRET_ACCESS_KEY": InstallCommandTests.secret]

    @Test func productionFileIsAcceptedWithRegionAndEndpointUnset() throws {
        let app = try Self.installedApp("config-unset")
        defer { app.remove() }
        let config = ["-config", ReplicationConfigFile.production]
        let ours = try Self.run(in: app, app.litestream, ["databases"] + config, set: Self.credentials, unset: Self.regionAndEndpoint)
        #expect(ours.status == 0, "\(ours.stderr)")
        #expect(ours.stdout.contains(app.path("data/db.sqlite")) && ours.stdout.contains("s3"), "\(ours.stdout)")

        let printed = try Self.run(in: app, app.litestream, ["config"] + config, set: Self.credentials, unset: Self.regionAndEndpoint)
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stdout.contains("bucket: \"the-bucket\""), "\(printed.stdout)")
        #expect(printed.stdout.contains("path: \"db.sqlite\""))
        #expect(!printed.stdout.contains("region:") && !printed.stdout.contains("endpoint:"), "unset: left to the defaults")
        #expect(!printed.stdout.contains(InstallCommandTests.secret) && !printed.stderr.contains(InstallCommandTests.secret))

        if let reference = TestEnvironment.litestreamBinary {
            let theirs = try Self.run(in: app, reference, ["databases"] + config, set: Self.credentials, unset: Self.regionAndEndpoint)
            #expect(theirs.status == 0, "0.5.17: \(theirs.stderr)")
            #expect(theirs.stdout.contains(app.path("data/db.sqlite")), "\(theirs.stdout)")
        } else {
            #expect(!TestEnvironment.isCI, "the reference litestream is missing")
        }

        // Without a bucket, both refuse the file: the one required variable.
        var noBucket = Self.credentials
        noBucket["LITESTREAM_REPLICA_BUCKET"] = ""
        #expect(try Self.run(in: app, app.litestream, ["databases"] + config, set: noBucket).status != 0)
        if let reference = TestEnvironment.litestreamBinary {
            #expect(try Self.run(in: app, reference, ["databases"] + config, set: noBucket).status != 0)
        }
    }

    @Test func productionFileHonoursRegionAndEndpoint() throws {
        let app = try Self.installedApp("config-set")
        defer { app.remove() }
        var set = Self.credentials
        set["LITESTREAM_REPLICA_REGION"] = "eu-west-3"
        set["LITESTREAM_REPLICA_ENDPOINT"] = "http://127.0.0.1:9"
        let printed = try Self.run(in: app, app.litestream, ["config", "-config", ReplicationConfigFile.production], set: set)
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stdout.contains("region: \"eu-west-3\""), "\(printed.stdout)")
        #expect(printed.stdout.contains("endpoint: \"http://127.0.0.1:9\""))
        #expect(!printed.stdout.contains("AKIDMARKER") && !printed.stdout.contains(InstallCommandTests.secret))
    }

    /// Every variable is used: a replica on the S3 test server through LITESTREAM_REPLICA_ENDPOINT (region unset),
    /// written by ours and by 0.5.17 from the same file, restores.
    @Test(.enabled(if: S3TestServer.enabled), .timeLimit(.minutes(3)))
    func productionFileReplicatesThroughTheVariables() async throws {
        let app = try Self.installedApp("config-s3")
        defer { app.remove() }
        let endpoint = try S3TestServer.endpoint()
        let ourBucket = try await S3TestServer.makeBucket("install")
        var set = ["LITESTREAM_REPLICA_BUCKET": ourBucket, "LITESTREAM_REPLICA_ENDPOINT": endpoint,
                   "LITESTREAM_ACCESS_KEY_ID": "test", "LITESTREAM_SECRET_ACCESS_KEY": "test"]
        let once = try Self.run(in: app, app.litestream, ["replicate", "-config", ReplicationConfigFile.production, "-once"],
                                set: set, unset: ["LITESTREAM_REPLICA_REGION"])
        #expect(once.status == 0, "\(once.stderr)")
        let restored = app.path("restored-ours.db")
        let r = try TestEnvironment.run(app.litestream, ["restore", "-o", restored, try S3TestServer.url(bucket: ourBucket, path: "db.sqlite")],
                                        environment: S3TestServer.environment)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try TestEnvironment.sqlite3(restored, "SELECT v FROM t") == "one")

        let reference = try TestEnvironment.requireLitestreamBinary()
        let theirBucket = try await S3TestServer.makeBucket("install-ref")
        set["LITESTREAM_REPLICA_BUCKET"] = theirBucket
        let unsets = ["-u", "AWS_CA_BUNDLE", "-u", "LITESTREAM_REPLICA_REGION"]
        let replicate = try TestEnvironment.launch("env", ["-C", app.dir.path] + unsets
            + [reference, "replicate", "-config", ReplicationConfigFile.production], environment: set)
        defer { replicate.signal(SIGKILL) }
        let theirs = app.path("restored-theirs.db")
        let deadline = ContinuousClock.now + .seconds(60)
        var restoredTheirs = false
        while ContinuousClock.now < deadline, !restoredTheirs {
            try? FileManager.default.removeItem(atPath: theirs)
            let r = try TestEnvironment.run(app.litestream, ["restore", "-o", theirs, try S3TestServer.url(bucket: theirBucket, path: "db.sqlite")],
                                            environment: S3TestServer.environment)
            restoredTheirs = r.status == 0
            if !restoredTheirs { try await Task.sleep(for: .milliseconds(300)) }
        }
        replicate.interrupt()
        _ = try? replicate.wait(timeout: .seconds(30))
        #expect(restoredTheirs, "0.5.17 replicated through the file: \(replicate.output.stderr)")
        if restoredTheirs { #expect(try TestEnvironment.sqlite3(theirs, "SELECT v FROM t") == "one") }
    }

    /// The development file's `path: backups/db.sqlite` is the app's working directory's backups/, for both.
    @Test(.timeLimit(.minutes(2))) func developmentFileBacksUpIntoTheWorkingDirectory() async throws {
        let app = try Self.installedApp("config-dev")
        defer { app.remove() }
        let once = try Self.run(in: app, app.litestream, ["replicate", "-config", ReplicationConfigFile.development, "-once"], set: [:])
        #expect(once.status == 0, "\(once.stderr)")
        #expect(FileManager.default.fileExists(atPath: app.path("backups/db.sqlite")), "ours: backups/ beside the app")
        try FileManager.default.removeItem(atPath: app.path("backups"))

        guard let reference = TestEnvironment.litestreamBinary else {
            #expect(!TestEnvironment.isCI, "the reference litestream is missing")
            return
        }
        let replicate = try TestEnvironment.launch("env", ["-C", app.dir.path, reference, "replicate", "-config", ReplicationConfigFile.development])
        defer { replicate.signal(SIGKILL) }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, !FileManager.default.fileExists(atPath: app.path("backups/db.sqlite/ltx")) {
            try await Task.sleep(for: .milliseconds(100))
        }
        replicate.interrupt()
        _ = try? replicate.wait(timeout: .seconds(30))
        #expect(FileManager.default.fileExists(atPath: app.path("backups/db.sqlite/ltx")), "0.5.17: \(replicate.output.stderr)")
    }
}

/// The paths install writes the configuration to (as docs/install.md names them).
enum ReplicationConfigFile {
    static let production = "config/litestream.yml"
    static let development = "config/litestream.development.yml"
}
