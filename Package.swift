// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "litestream-swift",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Litestream", targets: ["Litestream"]),
        .library(name: "LTX", targets: ["LTX"]),
        .executable(name: "litestream", targets: ["LitestreamCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // S3 replicas: SigV4 (HMAC-SHA256, SHA-256, MD5) and HTTP.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        // The configuration file: YAML with node marks (line/column) for precise errors.
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        // Replication metrics (lag, TXIDs, sync and error counts) in whatever metrics backend the app uses.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.4.0"),
        // Start and stop: every long-running part is a `Service`; `replicate` runs them in a `ServiceGroup`.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // The system's SQLite: one copy per process, shared with GRDB-based apps (see docs/design.md).
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        // The reference LZ4 library, for LTX page blocks and legacy per-page frames.
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]
        ),
        // The LTX file format: encoder, decoder, CRC-64/ISO, page index. No I/O policy, no SQLite.
        .target(
            name: "LTX",
            dependencies: ["CLZ4"],
            swiftSettings: swiftSettings
        ),
        // The replication engine, replica clients and restore.
        .target(
            name: "Litestream",
            dependencies: [
                "LTX",
                "CSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "LitestreamCLI",
            dependencies: [
                "Litestream",
                "LTX",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // An app's way to run the replicator: a `Service` in a `ServiceGroup` (run by ServiceGroupExampleTests).
        .executableTarget(
            name: "ServiceGroupReplicator",
            dependencies: [
                "Litestream",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Examples/ServiceGroupReplicator",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LTXTests",
            dependencies: ["LTX"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LitestreamTests",
            dependencies: [
                "Litestream", "LTX", "CSQLite",
                // The fault-injecting S3 proxy of the S3 tests (S3/FaultProxy.swift).
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["S3/Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
