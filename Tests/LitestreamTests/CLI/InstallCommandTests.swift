import Foundation
import Testing

/// `litestream install` with the built binary on fixture apps in temporary directories: what it writes, that a
/// second run changes nothing, that an edited file is left alone, `--dry-run`, the errors, and that it never reads
/// (so never prints) a secret.
@Suite struct InstallCommandTests {
    /// A fixture app: a package directory.
    struct App {
        let litestream: String
        let dir: URL

        init(_ name: String) throws {
            litestream = try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first")
            dir = try TestEnvironment.temporaryDirectory("install-\(name)")
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }

        func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }

        func write(_ relative: String, _ text: String) throws {
            let url = dir.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }

        func read(_ relative: String) -> String? { try? String(contentsOfFile: path(relative), encoding: .utf8) }

        /// `litestream install -package-path DIR ARGS`, with a secret in the environment that must never be printed.
        @discardableResult
        func install(_ args: [String] = [], environment: [String: String] = [:]) throws
            -> (status: Int32, stdout: String, stderr: String)
        {
            var env = ["LITESTREAM_SECRET_ACCESS_KEY": InstallCommandTests.secret, "LITESTREAM_ACCESS_KEY_ID": InstallCommandTests.secret]
            env.merge(environment) { $1 }
            let r = try TestEnvironment.run(litestream, ["install", "-package-path", dir.path] + args, environment: env)
            #expect(!r.stdout.contains(InstallCommandTests.secret) && !r.stderr.contains(InstallCommandTests.secret),
                    "a secret was printed")
            return r
        }

        /// Every file below the app with its bytes and modification time.
        func snapshot() throws -> [String: (Data, Date)] {
            var out: [String: (Data, Date)] = [:]
            let walker = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.contentModificationDateKey, .isRegularFileKey])
            while let url = walker?.nextObject() as? URL {
                let values = try url.resourceValues(forKeys: [.contentModificationDateKey, .isRegularFileKey])
                guard values.isRegularFile == true else { continue }
                out[String(url.path.dropFirst(dir.path.count))] = (try Data(contentsOf: url), values.contentModificationDate ?? .distantPast)
            }
            return out
        }

        /// Expects the app's files as `before` found them: the same files, bytes and modification times.
        func expectUnchanged(since before: [String: (Data, Date)], sourceLocation: SourceLocation = #_sourceLocation) throws {
            let after = try snapshot()
            #expect(before.keys.sorted() == after.keys.sorted(), sourceLocation: sourceLocation)
            for (path, (data, date)) in before {
                #expect(after[path]?.0 == data, "\(path) changed", sourceLocation: sourceLocation)
                #expect(after[path]?.1 == date, "\(path) was rewritten", sourceLocation: sourceLocation)
            }
        }
    }

    static let secret = "SECRET-MARKER-5f1c"

    /// Package.swift as `vapor new` writes it (tools 6.0, Fluent with SQLite), with the dependency on this package
    /// added by hand, as a user does before running install.
    static let vaporManifest = """
        // swift-tools-version:6.0
        import PackageDescription

        let package = Package(
            name: "notes",
            platforms: [
               .macOS(.v13)
            ],
            dependencies: [
                // 💧 A server-side Swift web framework.
                .package(url: "https://github.com/vapor/vapor.git", from: "4.115.0"),
                // 🗄 An ORM for SQL and NoSQL databases.
                .package(url: "https://github.com/vapor/fluent.git", from: "4.9.0"),
                // 🪶 Fluent driver for SQLite.
                .package(url: "https://github.com/vapor/fluent-sqlite-driver.git", from: "4.6.0"),
                // 🔵 Non-blocking, event-driven networking for Swift. Used for custom executors
                .package(url: "https://github.com/apple/swift-nio.git", from: "2.65.0"),
                .package(url: "https://github.com/litestream-swift/litestream-swift.git", from: "0.1.0"),
            ],
            targets: [
                .executableTarget(
                    name: "App",
                    dependencies: [
                        .product(name: "Fluent", package: "fluent"),
                        .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
                        .product(name: "Vapor", package: "vapor"),
                        .product(name: "NIOCore", package: "swift-nio"),
                        .product(name: "NIOPosix", package: "swift-nio"),
                    ],
                    swiftSettings: swiftSettings
                ),
                .testTarget(
                    name: "AppTests",
                    dependencies: [
                        .target(name: "App"),
                        .product(name: "VaporTesting", package: "vapor"),
                    ],
                    swiftSettings: swiftSettings
                )
            ]
        )

        var swiftSettings: [SwiftSetting] { [
            .enableUpcomingFeature("ExistentialAny"),
        ] }

        """

    static let vaporConfigure = """
        import NIOSSL
        import Fluent
        import FluentSQLiteDriver
        import Vapor

        // configures your application
        public func configure(_ app: Application) async throws {
            // app.databases.use(.sqlite(.file("old.sqlite")), as: .sqlite)   (a comment: not a database)
            app.databases.use(DatabaseConfigurationFactory.sqlite(.file("data/db.sqlite")), as: .sqlite)
            app.migrations.add(CreateTodo())
            try routes(app)
        }

        """

    /// The Vapor fixture: the template's manifest, configure.swift and (unless `dockerfile` is false) Dockerfile.
    static func vaporApp(_ name: String, dockerfile: Bool = true) throws -> App {
        let app = try App(name)
        try app.write("Package.swift", vaporManifest)
        try app.write("Sources/App/configure.swift", vaporConfigure)
        if dockerfile { try app.write("Dockerfile", InstallFixtures.vaporTemplateDockerfile(target: "App")) }
        return app
    }

    /// Hummingbird + GRDB: a manifest with a custom source path and a multi-line `.package(`, a DatabasePool.
    static func hummingbirdApp(_ name: String, dockerfile: Bool = true) throws -> App {
        let app = try App(name)
        try app.write("Package.swift", """
            // swift-tools-version:6.1
            import PackageDescription

            let package = Package(
                name: "orders",
                platforms: [.macOS(.v15)],
                products: [
                    .executable(name: "Orders", targets: ["Orders"]),
                ],
                dependencies: [
                    .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
                    .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
                    .package(
                        url: "https://github.com/litestream-swift/litestream-swift",
                        from: "0.1.0"
                    ),
                ],
                targets: [
                    .executableTarget(name: "Orders",
                        dependencies: [
                            .product(name: "Hummingbird", package: "hummingbird"),
                            .product(name: "GRDB", package: "GRDB.swift")  // the database
                        ],
                        path: "Sources/App"
                    ),
                ]
            )

            """)
        try app.write("Sources/App/App.swift", """
            import GRDB
            import Hummingbird

            let pool = try DatabasePool(path: "data/orders.sqlite")
            let scratch = try DatabaseQueue()  // in memory: not replicated
            let label = "DatabasePool(path: \\"not/code.sqlite\\")"

            """)
        if dockerfile { try app.write("Dockerfile", InstallFixtures.hummingbirdTemplateDockerfile(target: "Orders")) }
        return app
    }

    // MARK: - A Vapor app

    @Test func vaporAppGetsConfigurationManifestAndDockerfile() throws {
        let app = try Self.vaporApp("vapor")
        defer { app.remove() }
        let r = try app.install()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Vapor app, target App"), "\(r.stdout)")
        #expect(r.stdout.contains("data/db.sqlite  (Sources/App/configure.swift:9)"), "the commented-out database is not one: \(r.stdout)")

        let production = try #require(app.read("config/litestream.yml"))
        #expect(production.contains("  - path: data/db.sqlite  #"))
        for line in [
            "      type: s3  #",
            "      bucket: ${LITESTREAM_REPLICA_BUCKET}  #",
            "      path: db.sqlite  #",
            "      region: ${LITESTREAM_REPLICA_REGION}  #",
            "      endpoint: ${LITESTREAM_REPLICA_ENDPOINT}  #",
            "      access-key-id: ${LITESTREAM_ACCESS_KEY_ID}  #",
            "      secret-access-key: ${LITESTREAM_SECRET_ACCESS_KEY}  #",
        ] {
            #expect(production.contains("\n" + line), "missing \(line)")
        }
        // A comment on every line.
        for line in production.split(separator: "\n") where line.trimmingCharacters(in: .whitespaces) != "dbs:" {
            #expect(line.contains("#"), "a line without a comment: \(line)")
        }
        let development = try #require(app.read("config/litestream.development.yml"))
        #expect(development.contains("      type: file  #"))
        #expect(development.contains("      path: backups/db.sqlite  #"))

        let manifest = try #require(app.read("Package.swift"))
        #expect(manifest.hasPrefix("// swift-tools-version:6.1\n"), "traits need 6.1")
        #expect(manifest.contains(#".package(url: "https://github.com/litestream-swift/litestream-swift.git", from: "0.1.0", traits: ["Vapor"]),"#))
        #expect(manifest.contains("""
                            .product(name: "NIOPosix", package: "swift-nio"),
                            .product(name: "LitestreamVapor", package: "litestream-swift"),
                            .product(name: "LitestreamSupervisor", package: "litestream-swift"),
                        ],
            """))
        // Only those lines changed.
        let old = Self.vaporManifest.split(separator: "\n", omittingEmptySubsequences: false)
        let new = manifest.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(new.count == old.count + 2)

        let dockerfile = try #require(app.read("Dockerfile"))
        #expect(dockerfile.contains("apt-get -q install -y --no-install-recommends libsqlite3-dev liblz4-dev"))
        #expect(dockerfile.contains("""
            RUN --mount=type=cache,target=/build/.build \\
                swift build -c release --static-swift-stdlib --product litestream \\
                && mkdir -p /staging \\
                && cp "$(swift build -c release --show-bin-path)/litestream" /staging/ \\
                && cp -R config /staging/
            """), "the build RUN's cache mount is repeated")
        #expect(dockerfile.contains("libsqlite3-0 liblz4-1 ca-certificates curl"))
        #expect(dockerfile.contains("RUN mkdir -p /app/data && chown vapor:vapor /app/data\nVOLUME [\"/app/data\"]"))
        #expect(dockerfile.contains("CMD curl -fsS http://127.0.0.1:8080/litestream/health || exit 1"))
        #expect(dockerfile.contains("HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\\n    CMD curl -fsS http://127.0.0.1:8080/litestream/health || exit 1\n\n# Ensure all further commands run as the vapor user\nUSER vapor:vapor"),
                "before the USER line and its comment")
        // The template's lines are all still there, in order.
        let template = InstallFixtures.vaporTemplateDockerfile(target: "App").split(separator: "\n", omittingEmptySubsequences: false)
        var rest = dockerfile.split(separator: "\n", omittingEmptySubsequences: false)[...]
        for line in template {
            guard let i = rest.firstIndex(of: line) else { Issue.record("template line lost: \(line)"); break }
            rest = rest[(i + 1)...]
        }

        // The app code to paste, and the variables' names.
        #expect(r.stdout.contains("app.litestream.configure(.init(configPath: app.environment == .production"))
        #expect(r.stdout.contains(#"try await req.application.litestream.sync("data/db.sqlite", waitForReplicas: true)"#))
        for name in ["LITESTREAM_REPLICA_BUCKET", "LITESTREAM_REPLICA_REGION", "LITESTREAM_REPLICA_ENDPOINT",
                     "LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY", "LITESTREAM_PASSWORD"] {
            #expect(r.stdout.contains("  \(name): "), "\(name) is named")
        }
        #expect(r.stderr.contains("needs .macOS(.v15)"), "\(r.stderr)")
        #expect(r.stdout.hasSuffix("""
            Summary:
              written     config/litestream.yml
              written     config/litestream.development.yml
              written     Package.swift
              written     Dockerfile

            """), "\(r.stdout)")
    }

    /// The edited manifest is still a manifest: `swift package dump-package` evaluates it (no dependency needed).
    @Test func editedManifestParses() throws {
        let app = try Self.vaporApp("vapor-dump")
        defer { app.remove() }
        #expect(try app.install().status == 0)
        let r = try TestEnvironment.run("swift", ["package", "dump-package", "--package-path", app.dir.path], timeout: .seconds(300))
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let targets = try #require(json["targets"] as? [[String: Any]])
        let appTarget = try #require(targets.first { $0["name"] as? String == "App" })
        let products = (appTarget["dependencies"] as? [[String: Any]] ?? []).compactMap { ($0["product"] as? [Any])?.first as? String }
        #expect(products.contains("LitestreamVapor") && products.contains("LitestreamSupervisor"), "\(products)")
        let text = r.stdout
        #expect(text.contains("\"Vapor\""), "the trait is in the dependency")
    }

    @Test func secondRunChangesNothing() throws {
        let app = try Self.vaporApp("vapor-twice")
        defer { app.remove() }
        #expect(try app.install().status == 0)
        let before = try app.snapshot()
        Thread.sleep(forTimeInterval: 0.05)
        let r = try app.install()
        #expect(r.status == 0, "\(r.stderr)")
        try app.expectUnchanged(since: before)
        #expect(r.stdout.hasSuffix("""
            Summary:
              unchanged   config/litestream.yml
              unchanged   config/litestream.development.yml
              unchanged   Package.swift
              unchanged   Dockerfile

            """), "\(r.stdout)")
    }

    @Test func editedConfigurationIsLeftAloneUnlessForce() throws {
        let app = try Self.vaporApp("vapor-edited")
        defer { app.remove() }
        #expect(try app.install().status == 0)
        let written = try #require(app.read("config/litestream.yml"))
        let edited = written.replacingOccurrences(of: "      type: s3  # Amazon S3's protocol: AWS or any S3-compatible store\n", with: "      type: s3  # mine\n      sync-interval: 10s  # mine\n")
        try app.write("config/litestream.yml", edited)

        let r = try app.install()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(app.read("config/litestream.yml") == edited)
        #expect(r.stdout.contains("config/litestream.yml: differs from what install writes (edited?); left alone"), "\(r.stdout)")
        #expect(r.stdout.contains("  -       sync-interval: 10s  # mine"), "the diff shows the edit: \(r.stdout)")
        #expect(r.stdout.contains("  left        config/litestream.yml  (differs from what install writes; --force replaces it)"))

        let forced = try app.install(["-force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(app.read("config/litestream.yml") == written)
        #expect(forced.stdout.contains("  written     config/litestream.yml"))
    }

    @Test func dryRunWritesNothing() throws {
        let app = try Self.vaporApp("vapor-dry")
        defer { app.remove() }
        let before = try app.snapshot()
        let r = try app.install(["--dry-run"])
        #expect(r.status == 0, "\(r.stderr)")
        try app.expectUnchanged(since: before)
        #expect(!FileManager.default.fileExists(atPath: app.path("config")))
        // The exact lines it would add to Package.swift, and the files it would write.
        #expect(r.stdout.contains(#"+                 .product(name: "LitestreamVapor", package: "litestream-swift"),"#), "\(r.stdout)")
        #expect(r.stdout.contains(#"+         .package(url: "https://github.com/litestream-swift/litestream-swift.git", from: "0.1.0", traits: ["Vapor"]),"#))
        #expect(r.stdout.contains("config/litestream.yml: would write\n    # Litestream configuration for production"))
        #expect(r.stdout.contains("  would write config/litestream.yml"))
    }

    /// What `App litestream install` runs: the app's `litestream` command starts the executable in the app's
    /// working directory with LITESTREAM_CONFIG set (and the LITESTREAM_* values filled in).
    @Test func worksFromTheWorkingDirectoryAndIgnoresLitestreamConfig() throws {
        let app = try Self.vaporApp("vapor-cwd")
        defer { app.remove() }
        let r = try TestEnvironment.run("/bin/sh", ["-c", "cd \"$1\" && exec \"$2\" install 2>&1", "sh", app.dir.path, app.litestream],
            environment: ["LITESTREAM_CONFIG": "/nonexistent/litestream.yml", "LITESTREAM_SECRET_ACCESS_KEY": Self.secret])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(!r.stdout.contains(Self.secret))
        #expect(FileManager.default.fileExists(atPath: app.path("config/litestream.yml")))
    }

    // MARK: - Hummingbird + GRDB

    @Test func hummingbirdAppWithGRDB() throws {
        let app = try Self.hummingbirdApp("hummingbird")
        defer { app.remove() }
        let r = try app.install()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Hummingbird app, target Orders"), "\(r.stdout)")
        #expect(r.stdout.contains("data/orders.sqlite  (Sources/App/App.swift:4)"), "\(r.stdout)")
        #expect(!r.stdout.contains("not/code.sqlite"), "a string is not code")
        #expect(app.read("config/litestream.yml")?.contains("  - path: data/orders.sqlite  #") == true)

        let manifest = try #require(app.read("Package.swift"))
        #expect(manifest.contains("""
                    .package(
                        url: "https://github.com/litestream-swift/litestream-swift",
                        from: "0.1.0",
                        traits: ["Hummingbird"]
                    ),
            """), "\(manifest)")
        #expect(manifest.contains("""
                            .product(name: "GRDB", package: "GRDB.swift"),  // the database
                            .product(name: "LitestreamHummingbird", package: "litestream-swift"),
                            .product(name: "LitestreamSupervisor", package: "litestream-swift")
                        ],
            """), "\(manifest)")
        #expect(manifest.hasPrefix("// swift-tools-version:6.1\n"))

        let dockerfile = try #require(app.read("Dockerfile"))
        #expect(dockerfile.contains("\nRUN swift build -c release --static-swift-stdlib --product litestream \\\n"), "no cache mount to repeat")
        #expect(dockerfile.contains("RUN mkdir -p /app/data && chown hummingbird:hummingbird /app/data"))
        #expect(dockerfile.contains("ENV APP_ENV=production\n"))
        #expect(r.stdout.contains("let supervisor = ReplicationSupervisor(configuration: .init(configPath: env[\"APP_ENV\"] == \"production\""))
        #expect(r.stdout.contains("router.addLitestreamHealth(at: \"litestream/health\", supervisor: supervisor)"))
        #expect(r.stdout.contains("app.addServices(supervisor)"))
        #expect(r.stdout.contains("try await supervisor.sync(\"data/orders.sqlite\", waitForReplicas: true)"))

        let again = try app.install()
        #expect(again.stdout.hasSuffix("""
              unchanged   config/litestream.yml
              unchanged   config/litestream.development.yml
              unchanged   Package.swift
              unchanged   Dockerfile

            """), "\(again.stdout)")
    }

    /// No Dockerfile: install writes its own, and owns it like the YAML files.
    @Test func freshDockerfile() throws {
        let app = try Self.hummingbirdApp("hummingbird-fresh", dockerfile: false)
        defer { app.remove() }
        #expect(try app.install().status == 0)
        let dockerfile = try #require(app.read("Dockerfile"))
        #expect(dockerfile.hasPrefix("# Dockerfile written by `litestream install`"))
        #expect(dockerfile.contains("FROM swift:6.1-noble AS build\n"))
        #expect(dockerfile.contains("RUN swift build -c release --static-swift-stdlib --product Orders\n"))
        #expect(dockerfile.contains("RUN swift build -c release --static-swift-stdlib --product litestream\n"))
        #expect(dockerfile.contains("FROM ubuntu:noble\n"))
        #expect(dockerfile.contains("libsqlite3-0 liblz4-1 ca-certificates curl tzdata"))
        #expect(dockerfile.contains("ENV APP_ENV=production\n"))
        #expect(dockerfile.contains("VOLUME [\"/app/data\"]\n"))
        #expect(dockerfile.contains("ENTRYPOINT [\"./Orders\"]\nCMD [\"--hostname\", \"0.0.0.0\", \"--port\", \"8080\"]\n"))

        // Edited: left alone, like the YAML files.
        try app.write("Dockerfile", dockerfile + "# mine\n")
        let r = try app.install()
        #expect(r.stdout.contains("  left        Dockerfile"), "\(r.stdout)")
        #expect(app.read("Dockerfile") == dockerfile + "# mine\n")
    }

    @Test func databaseAtTheTopLevelIsWarnedAbout() throws {
        let app = try Self.vaporApp("vapor-top", dockerfile: false)
        defer { app.remove() }
        let r = try app.install(["-database", "db.sqlite"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("db.sqlite is in the app's working directory itself"), "\(r.stderr)")
        #expect(r.stdout.contains("db.sqlite  (--database)"))
        #expect(app.read("Dockerfile")?.contains("VOLUME") == false)
        #expect(app.read("config/litestream.yml")?.contains("  - path: db.sqlite  #") == true)
    }

    // MARK: - Errors

    @Test func computedPathAsksForDatabase() throws {
        let app = try Self.vaporApp("computed")
        defer { app.remove() }
        try app.write("Sources/App/configure.swift", """
            import Vapor
            func configure(_ app: Application) async throws {
                let path = Environment.get("DB_PATH") ?? "db.sqlite"
                app.databases.use(.sqlite(.file(path)), as: .sqlite)
            }

            """)
        let r = try app.install()
        #expect(r.status == 64)
        #expect(r.stderr.contains("Sources/App/configure.swift:4: path"), "\(r.stderr)")
        #expect(r.stderr.contains("--database PATH"))
        #expect(!FileManager.default.fileExists(atPath: app.path("config")), "nothing written")

        let ok = try app.install(["--database", "data/app.sqlite", "--database", "data/cache.sqlite"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let production = try #require(app.read("config/litestream.yml"))
        #expect(production.contains("  - path: data/app.sqlite  #") && production.contains("  - path: data/cache.sqlite  #"))
        #expect(production.contains("      path: app.sqlite  #") && production.contains("      path: cache.sqlite  #"))
    }

    /// A path kept in a constant declared once in the target (`let databasePath = "..."`) is as good as a literal.
    @Test func databasePathInAConstant() throws {
        let app = try Self.vaporApp("constant")
        defer { app.remove() }
        try app.write("Sources/App/configure.swift", """
            import Vapor
            func configure(_ app: Application) async throws {
                app.databases.use(.sqlite(.file(databasePath)), as: .sqlite)
            }

            """)
        try app.write("Sources/App/Paths.swift", "let databasePath = \"data/notes.sqlite\"  // where the notes live\n")
        let r = try app.install()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("data/notes.sqlite  (Sources/App/configure.swift:3, via databasePath)"), "\(r.stdout)")

        // Declared twice (another scope, another value?): not certain, so asked for.
        try app.write("Sources/App/Other.swift", "func other() { let databasePath = \"x.sqlite\"; _ = databasePath }\n")
        let ambiguous = try app.install()
        #expect(ambiguous.status == 64, "\(ambiguous.stdout)")
        #expect(ambiguous.stderr.contains("Sources/App/configure.swift:3: databasePath"), "\(ambiguous.stderr)")
    }

    @Test func noDatabaseIsAnError() throws {
        let app = try Self.vaporApp("nodb")
        defer { app.remove() }
        try app.write("Sources/App/configure.swift", "import Vapor\nfunc configure(_ app: Application) {}\n")
        let r = try app.install()
        #expect(r.status == 64)
        #expect(r.stderr.contains("no SQLite database found in Sources/App"), "\(r.stderr)")
        #expect(r.stderr.contains("DatabasePool(path:") && r.stderr.contains(".sqlite(.file("))
    }

    @Test func appWithoutTheDependencyIsToldTheLine() throws {
        let app = try Self.vaporApp("nodep")
        defer { app.remove() }
        try app.write("Package.swift", Self.vaporManifest.replacingOccurrences(
            of: "        .package(url: \"https://github.com/litestream-swift/litestream-swift.git\", from: \"0.1.0\"),\n", with: ""))
        let r = try app.install()
        #expect(r.status == 1)
        #expect(r.stderr.contains(#".package(url: "https://github.com/litestream-swift/litestream-swift", from: "0.1.0", traits: ["Vapor"]),"#), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: app.path("config")))
    }

    @Test func ambiguousFrameworkNeedsTheOption() throws {
        let app = try Self.vaporApp("both")
        defer { app.remove() }
        try app.write("Package.swift", Self.vaporManifest.replacingOccurrences(
            of: "        .package(url: \"https://github.com/apple/swift-nio.git\", from: \"2.65.0\"),\n",
            with: "        .package(url: \"https://github.com/hummingbird-project/hummingbird.git\", from: \"2.0.0\"),\n"))
        let r = try app.install()
        #expect(r.status == 64)
        #expect(r.stderr.contains("names both Vapor and Hummingbird: pass --framework"), "\(r.stderr)")
        #expect(try app.install(["-framework", "vapor"]).status == 0)
    }

    /// A dependencies list install cannot delimit: nothing is guessed, the lines are printed.
    @Test func manifestItCannotEditIsReported() throws {
        let app = try Self.vaporApp("manual")
        defer { app.remove() }
        let manifest = Self.vaporManifest.replacingOccurrences(
            of: "dependencies: [\n                .product(name: \"Fluent\"",
            with: "dependencies: appDependencies + [\n                .product(name: \"Fluent\"")
        #expect(manifest != Self.vaporManifest)
        try app.write("Package.swift", manifest)
        let r = try app.install()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(app.read("Package.swift") == manifest)
        #expect(r.stderr.contains("Package.swift not edited: the dependencies of target App are not an array literal"), "\(r.stderr)")
        #expect(r.stderr.contains(#".product(name: "LitestreamVapor", package: "litestream-swift"),"#))
        #expect(r.stdout.contains("  not edited  Package.swift  (add the lines shown above)"))
    }
}
