import Foundation
import LTX
import NIOPosix
import Testing

@testable import LitestreamClient
@testable import LitestreamCore
@testable import LitestreamServer

/// The client module is what a supervisor or a health check links: it must stay free of the engine, S3 and NIO.
@Suite struct ClientModuleTests {
    /// What `LitestreamClient` may depend on, directly or through another target of the package.
    static let allowed: Set<String> = ["LitestreamClient", "LTX", "CLitestreamLZ4"]

    @Test func clientTargetDependsOnNothingOfTheEngine() throws {
        let scratch = try TestEnvironment.temporaryDirectory("dump-package")
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Its own scratch path: `swift test` holds the lock of the package's .build.
        let dump = try TestEnvironment.run(
            "swift", ["package", "--package-path", TestEnvironment.repositoryRoot.path, "--scratch-path", scratch.path,
                      "dump-package"], timeout: .seconds(120))
        #expect(dump.status == 0, "\(dump.stderr)")
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(dump.stdout.utf8))
        let targets = Dictionary(uniqueKeysWithValues: manifest.targets.map { ($0.name, $0) })
        var closure: Set<String> = []
        var products: Set<String> = []
        var queue = ["LitestreamClient"]
        while let name = queue.popLast() {
            guard closure.insert(name).inserted, let target = targets[name] else { continue }
            for dependency in target.dependencies {
                if let byName = (dependency.byName ?? dependency.target)?.first ?? nil { queue.append(byName) }
                if let product = dependency.product?.first ?? nil { products.insert(product) }
            }
        }
        #expect(closure == Self.allowed, "LitestreamClient reaches \(closure.subtracting(Self.allowed).sorted())")
        #expect(products.isEmpty, "LitestreamClient depends on the packages' products \(products.sorted())")
        #expect(targets["ClientOnlyExample"].map { $0.dependencies.compactMap { $0.byName?.first ?? nil } } == ["LitestreamClient"])
    }

    @Test(.timeLimit(.minutes(5))) func anExecutableLinkingOnlyTheClientSyncsAndReadsStatus() async throws {
        guard let binary = TestEnvironment.ourBinary()?.deletingLastPathComponent()
            .appendingPathComponent("ClientOnlyExample").path, FileManager.default.isExecutableFile(atPath: binary)
        else {
            if TestEnvironment.isCI { Issue.record("ClientOnlyExample was not built") }
            return
        }
        let f = try ControlServerTests.Fixture("client-only")
        let app = try f.makeDatabase("a")
        try app.exec("INSERT INTO t (v) VALUES ('x')")
        let db = absolutePath(f.dbPath("a"))
        try await f.withServers([f.configuration("a")]) { server, _ in
            try await ControlServerTests.waitFor("a running") { server.monitor(for: db)?.isRunning == true }
            try app.exec("INSERT INTO t (v) VALUES ('y')")
            let result = try await NIOThreadPool.singleton.runIfActive {
                try TestEnvironment.run(binary, [f.socketPath, db], timeout: .seconds(120))
            }
            #expect(result.status == 0, "\(result.stderr)")
            let local = try #require(server.monitor(for: db)?.status().localTXID)
            #expect(local > .zero)
            #expect(result.stdout.contains("\(db) file \(local) local \(local)"), "\(result.stdout)")
        }
        // No server: the client says so and exits 1.
        let down = try TestEnvironment.run(binary, [f.socketPath, db], timeout: .seconds(60))
        #expect(down.status == 1 && down.stderr.contains("cannot reach control socket"), "\(down.stderr)")
    }

    /// The parts of `swift package dump-package` read here.
    struct Manifest: Decodable {
        struct Target: Decodable {
            struct Dependency: Decodable {
                var byName: [String?]?
                var target: [String?]?
                var product: [String?]?
                enum CodingKeys: String, CodingKey { case byName, target, product }
                init(from decoder: any Decoder) throws {
                    let c = try decoder.container(keyedBy: CodingKeys.self)
                    byName = try? c.decode([String?].self, forKey: .byName)
                    target = try? c.decode([String?].self, forKey: .target)
                    product = try? c.decode([String?].self, forKey: .product)
                }
            }
            var name: String
            var dependencies: [Dependency]
        }
        var targets: [Target]
    }
}
