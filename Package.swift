// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    // An import is internal unless a file says `public import`: no dependency's type leaks into the API by accident.
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "litestream-swift",
    platforms: [.macOS(.v15)],
    products: [
        // Everything below in one import: the engine, the S3 replica, the configuration file and the server side.
        .library(name: "Litestream", targets: ["Litestream"]),
        // The narrower pieces, for an app that links only what it uses.
        .library(name: "LitestreamCore", targets: ["LitestreamCore"]),
        .library(name: "LitestreamS3", targets: ["LitestreamS3"]),
        .library(name: "LitestreamSFTP", targets: ["LitestreamSFTP"]),
        .library(name: "LitestreamWebDAV", targets: ["LitestreamWebDAV"]),
        .library(name: "LitestreamNATS", targets: ["LitestreamNATS"]),
        .library(name: "LitestreamABS", targets: ["LitestreamABS"]),
        .library(name: "LitestreamOSS", targets: ["LitestreamOSS"]),
        .library(name: "LitestreamGCS", targets: ["LitestreamGCS"]),
        .library(name: "LitestreamConfig", targets: ["LitestreamConfig"]),
        .library(name: "LitestreamServer", targets: ["LitestreamServer"]),
        // For supervisors and health checks: the control-socket client and the status types, nothing of the engine.
        .library(name: "LitestreamClient", targets: ["LitestreamClient"]),
        .library(name: "LTX", targets: ["LTX"]),
        // Replication beside an app: the supervisor (any ServiceGroup), and the Vapor and Hummingbird glue, which
        // need the trait of the same name (`.package(url: ..., traits: ["Vapor"])`).
        .library(name: "LitestreamSupervisor", targets: ["LitestreamSupervisor"]),
        .library(name: "LitestreamVapor", targets: ["LitestreamVapor"]),
        .library(name: "LitestreamHummingbird", targets: ["LitestreamHummingbird"]),
        .executable(name: "litestream", targets: ["LitestreamCLI"]),
    ],
    // Opt-in framework integrations: a dependency of ours that names a trait builds that framework; nobody else
    // builds (or resolves) Vapor or Hummingbird. See README "Vapor and Hummingbird".
    traits: [
        .trait(name: "Vapor", description: "The LitestreamVapor product: Vapor lifecycle, routes and commands."),
        .trait(name: "Hummingbird", description: "The LitestreamHummingbird product: Hummingbird routes."),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/vapor", from: "4.100.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // S3 replicas: SigV4 (HMAC-SHA256, SHA-256, MD5) and HTTP.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        // SFTP replicas: the SSH transport (key exchange, ciphers, user auth, channels); the SFTP v3 subsystem on
        // top of it is ours (Sources/LitestreamSFTP).
        .package(url: "https://github.com/apple/swift-nio-ssh.git", "0.15.1"..<"0.16.0"),
        // The configuration file: YAML with node marks (line/column) for precise errors.
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        // Replication metrics (lag, TXIDs, sync and error counts) in whatever metrics backend the app uses.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.4.0"),
        // Start and stop: every long-running part is a `Service`; `replicate` runs them in a `ServiceGroup`.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        // Owned file descriptors, Errno, FilePath, stat.
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // The system's SQLite: one copy per process, shared with GRDB-based apps (see docs/design.md). The C
        // targets carry the package's name so that they cannot clash with an app's own `CSQLite`.
        .systemLibrary(
            name: "CLitestreamSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        // The reference LZ4 library, for LTX page blocks and legacy per-page frames.
        .systemLibrary(
            name: "CLitestreamLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]
        ),
        // The LTX file format: encoder, decoder, CRC-64/ISO, page index, merge rules. No I/O policy, no SQLite.
        .target(
            name: "LTX",
            dependencies: ["CLitestreamLZ4"],
            swiftSettings: swiftSettings
        ),
        // Starting child processes with posix_spawn (Foundation's `Process` crashes in a process with many open
        // descriptors): the supervisor's replicator and commands, and `replicate -exec`'s application.
        .target(
            name: "LitestreamSpawn",
            swiftSettings: swiftSettings
        ),
        // The control socket's client and the status and message types: what a supervisor or a health check
        // needs, with nothing of the engine, S3 or NIO (a test builds an executable that imports only this).
        .target(
            name: "LitestreamClient",
            dependencies: ["LTX"],
            swiftSettings: swiftSettings
        ),
        // The engine: WAL, database, syncing, restore, compaction and the file replica.
        .target(
            name: "LitestreamCore",
            dependencies: [
                "LTX",
                "LitestreamClient",
                "CLitestreamSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the HTTP replica clients share: the process-wide HTTP clients, the retry backoff, the description of
        // a failed connection and a small XML reader.
        .target(
            name: "LitestreamHTTP",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // The S3 replica client (and S3-compatible stores): SigV4, HTTP, streaming uploads.
        .target(
            name: "LitestreamS3",
            dependencies: [
                "LTX",
                "LitestreamCore",
                "LitestreamHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // The SFTP replica client: SFTP v3 over swift-nio-ssh, OpenSSH private keys, known-hosts checking.
        .target(
            name: "LitestreamSFTP",
            dependencies: [
                "LTX",
                "LitestreamClient",
                "LitestreamCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // The WebDAV replica client (webdav:// and webdavs://): PROPFIND, MKCOL, PUT and MOVE, GET, DELETE.
        .target(
            name: "LitestreamWebDAV",
            dependencies: [
                "LTX",
                "LitestreamCore",
                "LitestreamHTTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // The NATS replica client (nats://): the NATS client protocol over NIO (TLS with NIOSSL, nkey signatures
        // with swift-crypto) and JetStream's object store, as nats.go writes it.
        .target(
            name: "LitestreamNATS",
            dependencies: [
                "LTX",
                "LitestreamClient",
                "LitestreamCore",
                "LitestreamHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Azure Blob Storage replica client (abs://): Shared Key signing or a SAS token, Put Blob / Put Block.
        .target(
            name: "LitestreamABS",
            dependencies: [
                "LTX",
                "LitestreamClient",
                "LitestreamCore",
                "LitestreamHTTP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Alibaba Cloud OSS replica client (oss://): signature V4, PutObject / multipart, ListObjectsV2.
        .target(
            name: "LitestreamOSS",
            dependencies: [
                "LTX",
                "LitestreamClient",
                "LitestreamCore",
                "LitestreamHTTP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Google Cloud Storage replica client (gs://): the JSON API, service account tokens (RS256 assertions
        // signed with _CryptoExtras' RSA), multipart and resumable uploads.
        .target(
            name: "LitestreamGCS",
            dependencies: [
                "LTX",
                "LitestreamClient",
                "LitestreamCore",
                "LitestreamHTTP",
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // litestream.yml: the typed, strictly checked model, and the replica clients it describes.
        .target(
            name: "LitestreamConfig",
            dependencies: [
                "LitestreamCore",
                "LitestreamS3",
                "LitestreamSFTP",
                "LitestreamWebDAV",
                "LitestreamNATS",
                "LitestreamABS",
                "LitestreamOSS",
                "LitestreamGCS",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Many databases at once, directory mode, the control socket's server, metrics and the heartbeat.
        .target(
            name: "LitestreamServer",
            dependencies: [
                "LTX",
                "LitestreamClient",
                "LitestreamCore",
                "LitestreamConfig",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // The umbrella module: re-exports the modules above.
        .target(
            name: "Litestream",
            dependencies: [
                "LTX", "LitestreamClient", "LitestreamCore", "LitestreamS3", "LitestreamSFTP", "LitestreamWebDAV",
                "LitestreamNATS", "LitestreamABS", "LitestreamOSS", "LitestreamGCS", "LitestreamConfig",
                "LitestreamServer",
            ],
            swiftSettings: swiftSettings
        ),
        // Runs `litestream replicate` as a supervised child process beside an app, and talks to it through
        // LitestreamClient: restore on boot, durable-write waits, status, health, dashboard, verification,
        // commands. No framework, no engine (the child is the only place that opens the database).
        .target(
            name: "LitestreamSupervisor",
            dependencies: [
                "LTX",
                "LitestreamClient",
                "LitestreamSpawn",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Vapor and Hummingbird glue: compiled with its framework only when the app enables the trait.
        .target(
            name: "LitestreamVapor",
            dependencies: [
                "LitestreamSupervisor",
                "LTX",
                .product(name: "Vapor", package: "vapor", condition: .when(traits: ["Vapor"])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LitestreamHummingbird",
            dependencies: [
                "LitestreamSupervisor",
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Hummingbird"])),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "LitestreamCLI",
            dependencies: [
                "Litestream",
                "LTX",
                "LitestreamSpawn",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Built by the tests: a supervisor that links LitestreamClient alone (ClientModuleTests runs it).
        .executableTarget(
            name: "ClientOnlyExample",
            dependencies: ["LitestreamClient"],
            path: "Examples/ClientOnly",
            swiftSettings: swiftSettings
        ),
        // An app's way to run the replicator: a `Service` in a `ServiceGroup` (run by ServiceGroupExampleTests).
        .executableTarget(
            name: "ServiceGroupReplicator",
            dependencies: [
                "LitestreamCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Examples/ServiceGroupReplicator",
            swiftSettings: swiftSettings
        ),
        // Built by the tests: an app that runs a ReplicationSupervisor in a ServiceGroup (SupervisorHostTests kill it
        // with SIGTERM and SIGKILL). Links what an app using the supervisor links, nothing of the engine.
        .executableTarget(
            name: "SupervisorHost",
            dependencies: [
                "LitestreamSupervisor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Tests/SupervisorHost",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LTXTests",
            dependencies: ["LTX"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        // The framework-neutral pieces of the supervisor that need no child process: health judgements, the
        // dashboard page and its authentication. (The frameworks are tested by the FrameworkTests package.)
        .testTarget(
            name: "LitestreamSupervisorTests",
            dependencies: ["LitestreamSupervisor", "LitestreamClient", "LTX"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LitestreamTests",
            dependencies: [
                "Litestream", "LitestreamClient", "LitestreamCore", "LitestreamHTTP", "LitestreamS3", "LitestreamSFTP",
                "LitestreamWebDAV", "LitestreamNATS", "LitestreamABS", "LitestreamOSS", "LitestreamGCS", "LitestreamConfig",
                "LitestreamServer",
                "LitestreamSupervisor", "LitestreamSpawn", "LTX",
                "CLitestreamSQLite",
                // The supervisor's metrics, read back (Supervisor/SupervisorLifecycleTests.swift).
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                // The fault-injecting S3 proxy of the S3 tests (S3/FaultProxy.swift).
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // RSA signatures in the GCS tests (GCS/GCSGoldenTests.swift, GCS/GCSCannedServerTests.swift).
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                // Public keys in the SFTP tests (SFTP/SSHKeyTests.swift).
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
                // The operator, account and user JWTs the NATS tests sign (NATS/NATSOperatorSetup.swift).
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["S3/Fixtures", "ABS/Fixtures", "OSS/Fixtures", "GCS/Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
