// swift-tools-version: 6.1
import PackageDescription

// The framework integrations, tested the way an app uses them: the two example apps under Examples/ (which depend
// on this repository with the `Vapor` or `Hummingbird` trait on), run as real processes against an S3 server by
// the tests here. A package of its own so that the main package's `swift test` never builds a framework
// (scripts/test.sh runs this one as a second step); one build of it builds both examples and their frameworks.
let package = Package(
    name: "FrameworkTests",
    platforms: [.macOS(.v15)],
    dependencies: [
        // `name:` fixes the package's name whatever the clone's directory is called (`.product(package:)` uses it).
        .package(name: "litestream-swift", path: "..", traits: ["Vapor", "Hummingbird"]),
        .package(path: "../Examples/notes-vapor"),
        .package(path: "../Examples/orders-hummingbird"),
        .package(url: "https://github.com/vapor/vapor", from: "4.100.0"),
    ],
    targets: [
        // Runs the example apps (and the `litestream` executable built beside them) as processes; and checks
        // `app.litestream`'s own decisions on an Application made in the test.
        .testTarget(
            name: "FrameworkTests",
            dependencies: [
                .product(name: "LitestreamVapor", package: "litestream-swift"),
                .product(name: "LitestreamSupervisor", package: "litestream-swift"),
                .product(name: "Vapor", package: "vapor"),
            ]
        ),
    ]
)
