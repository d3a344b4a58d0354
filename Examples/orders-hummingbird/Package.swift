// swift-tools-version: 6.1
import PackageDescription

// An orders API on Hummingbird + GRDB (SQLite), backed up continuously by litestream-swift.
let package = Package(
    name: "orders-hummingbird",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "OrdersHummingbird", targets: ["OrdersHummingbird"])],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // This repository, by path. An app of your own names it by URL:
        // .package(url: "https://github.com/litestream-swift/litestream-swift", from: "0.1.0", traits: ["Hummingbird"]),
        .package(name: "litestream-swift", path: "../..", traits: ["Hummingbird"]),
    ],
    targets: [
        .executableTarget(
            name: "OrdersHummingbird",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "LitestreamHummingbird", package: "litestream-swift"),
                .product(name: "LitestreamSupervisor", package: "litestream-swift"),
            ]
        ),
    ]
)
