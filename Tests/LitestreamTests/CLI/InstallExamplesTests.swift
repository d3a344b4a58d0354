import Foundation
import Testing

/// Issue 16, test 1: `litestream install` on a copy of each example app under Examples/ with what install wrote
/// taken away (the two configuration files, the Dockerfile, and its Package.swift additions) writes the committed
/// files again, byte for byte. The committed apps are what CI builds (the framework step builds both examples), so
/// the apps that install leaves behind build.
@Suite struct InstallExamplesTests {
    struct Example: CustomTestStringConvertible, Sendable {
        var directory: String
        var trait: String
        var products: [String]
        var testDescription: String { directory }
    }

    static let examples = [
        Example(directory: "notes-vapor", trait: "Vapor", products: ["LitestreamVapor", "LitestreamSupervisor"]),
        Example(directory: "orders-hummingbird", trait: "Hummingbird",
                products: ["LitestreamHummingbird", "LitestreamSupervisor"]),
    ]

    static let generated = ["config/litestream.yml", "config/litestream.development.yml", "Dockerfile"]

    /// A copy of the example as it was before install: sources and a Package.swift that depends on this package
    /// (without the trait) but whose target does not use its products yet.
    static func pristineCopy(of example: Example) throws -> (app: InstallCommandTests.App, committed: URL) {
        let committed = TestEnvironment.repositoryRoot.appendingPathComponent("Examples/\(example.directory)")
        let app = try InstallCommandTests.App("example-\(example.directory)")
        for item in ["Package.swift", "Sources"] {
            try FileManager.default.copyItem(at: committed.appendingPathComponent(item),
                                             to: app.dir.appendingPathComponent(item))
        }
        var manifest = try #require(app.read("Package.swift"))
        for product in example.products {
            let line = #"                .product(name: "\#(product)", package: "litestream-swift"),"# + "\n"
            #expect(manifest.contains(line), "the committed Package.swift lacks \(product)")
            manifest = manifest.replacingOccurrences(of: line, with: "")
        }
        let traits = #", traits: ["\#(example.trait)"]"#
        #expect(manifest.contains(traits))
        manifest = manifest.replacingOccurrences(of: #"path: "../.."\#(traits))"#, with: #"path: "../..")"#)
        try app.write("Package.swift", manifest)
        return (app, committed)
    }

    @Test(arguments: examples)
    func installWritesWhatIsCommitted(example: Example) throws {
        let (app, committed) = try Self.pristineCopy(of: example)
        defer { app.remove() }
        for file in Self.generated { #expect(!FileManager.default.fileExists(atPath: app.path(file))) }

        // --dry-run first: it writes nothing.
        let before = try app.snapshot()
        let dry = try app.install(["--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        try app.expectUnchanged(since: before)

        let r = try app.install()
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        for file in Self.generated + ["Package.swift"] {
            let expected = try String(contentsOf: committed.appendingPathComponent(file), encoding: .utf8)
            #expect(app.read(file) == expected, "\(example.directory)/\(file) differs from the committed one:\n\(app.read(file) ?? "(missing)")")
        }

        // A second run: no file changes.
        let written = try app.snapshot()
        Thread.sleep(forTimeInterval: 0.05)
        let again = try app.install()
        #expect(again.status == 0, "\(again.stderr)")
        try app.expectUnchanged(since: written)

        // An edited config/litestream.yml is left alone, with a message.
        let edited = try #require(app.read("config/litestream.yml")) + "# mine\n"
        try app.write("config/litestream.yml", edited)
        let third = try app.install()
        #expect(third.status == 0, "\(third.stderr)")
        #expect(app.read("config/litestream.yml") == edited)
        #expect(third.stdout.contains("config/litestream.yml: differs from what install writes (edited?); left alone"),
                "\(third.stdout)")
    }
}
