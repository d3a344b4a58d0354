// swift-tools-version: 6.1
import PackageDescription

// A notes API on Vapor + Fluent (SQLite), backed up continuously by litestream-swift.
let package = Package(
    name: "notes-vapor",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "NotesVapor", targets: ["NotesVapor"])],
    dependencies: [
        .package(url: "https://github.com/vapor/vapor", from: "4.100.0"),
        .package(url: "https://github.com/vapor/fluent", from: "4.9.0"),
        .package(url: "https://github.com/vapor/fluent-sqlite-driver", from: "4.7.0"),
        // This repository, by path. An app of your own names it by URL:
        // .package(url: "https://github.com/litestream-swift/litestream-swift", from: "0.1.0", traits: ["Vapor"]),
        .package(name: "litestream-swift", path: "../..", traits: ["Vapor"]),
    ],
    targets: [
        .executableTarget(
            name: "NotesVapor",
            dependencies: [
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Fluent", package: "fluent"),
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
                .product(name: "LitestreamVapor", package: "litestream-swift"),
                .product(name: "LitestreamSupervisor", package: "litestream-swift"),
            ]
        ),
    ]
)
