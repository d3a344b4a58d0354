// swift-tools-version: 6.1
import Foundation
import PackageDescription

// SwiftPM names a path dependency after its directory (`litestream-swift` in a plain clone, anything in a
// worktree or a CI checkout), and `.product(package:)` must use that name.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// The framework integrations, tested the way an app uses them: two small fixture apps that depend on this
// repository with the `Vapor` and `Hummingbird` traits on, run as real processes against an S3 server by the
// tests beside them. A package of its own so that the main package's `swift test` never builds a framework
// (scripts/test.sh runs this one as a second step).
let package = Package(
    name: "FrameworkTests",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "..", traits: ["Vapor", "Hummingbird"]),
        .package(url: "https://github.com/vapor/vapor", from: "4.100.0"),
        .package(url: "https://github.com/vapor/fluent", from: "4.9.0"),
        .package(url: "https://github.com/vapor/fluent-sqlite-driver", from: "4.7.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // A notes API: Vapor + Fluent on SQLite (sqlite-nio), with `app.litestream`.
        .executableTarget(
            name: "NotesVapor",
            dependencies: [
                .product(name: "LitestreamVapor", package: root),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Fluent", package: "fluent"),
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
            ]
        ),
        // An orders API: Hummingbird + GRDB's DatabasePool, the supervisor as a service, `litestream` as a
        // subcommand of the app's ArgumentParser command.
        .executableTarget(
            name: "OrdersHummingbird",
            dependencies: [
                .product(name: "LitestreamHummingbird", package: root),
                .product(name: "LitestreamSupervisor", package: root),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Runs the fixture apps (and the `litestream` executable built beside them) as processes; and checks
        // `app.litestream`'s own decisions on an Application made in the test.
        .testTarget(
            name: "FrameworkTests",
            dependencies: [
                .product(name: "LitestreamVapor", package: root),
                .product(name: "LitestreamSupervisor", package: root),
                .product(name: "Vapor", package: "vapor"),
            ]
        ),
    ]
)
