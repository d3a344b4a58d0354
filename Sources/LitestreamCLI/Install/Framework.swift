import ArgumentParser

/// The web framework an app is built on: which of our products it needs, the trait that builds them, and how its
/// Docker image starts it.
enum Framework: String, CaseIterable, ExpressibleByArgument {
    case vapor, hummingbird

    var displayName: String { self == .vapor ? "Vapor" : "Hummingbird" }

    /// The framework's own product, whose presence in a target's dependencies marks the app's target.
    var frameworkProduct: String { displayName }

    /// The trait of our package that compiles the glue (`traits: ["Vapor"]`).
    var trait: String { displayName }

    /// Our products the app's target needs.
    var products: [String] {
        [self == .vapor ? "LitestreamVapor" : "LitestreamHummingbird", "LitestreamSupervisor"]
    }

    /// The frameworks a manifest names, from its text without comments: the package's URL or a product of it.
    static func detect(in manifest: SwiftSource) -> [Framework] {
        let code = manifest.codeText
        return allCases.filter { f in
            let url = f == .vapor ? "github.com/vapor/vapor" : "hummingbird-project/hummingbird"
            return code.contains(url) || !manifest.products(named: f.frameworkProduct).isEmpty
        }
    }

    /// The Docker image's `CMD` (after `ENTRYPOINT ["./<target>"]`) and any environment it needs: the production
    /// environment, listening on every interface on port 8080.
    var dockerCommand: String {
        switch self {
        case .vapor: #"CMD ["serve", "--env", "production", "--hostname", "0.0.0.0", "--port", "8080"]"#
        case .hummingbird: #"CMD ["--hostname", "0.0.0.0", "--port", "8080"]"#
        }
    }
}

extension SwiftSource {
    /// The text with comments blanked out (strings kept).
    var codeText: String {
        String(decoding: zip(bytes, kinds).map { $1 == .comment && $0 != 10 ? 32 : $0 }, as: UTF8.self)
    }

    /// Every `.product(name: "NAME", ...)` call in code.
    func products(named name: String, in range: Range<Int>? = nil) -> [Call] {
        calls(".product").filter { call in
            if let range, !range.contains(call.nameStart) { return false }
            return call.argument("name").flatMap { stringLiteral($0.value) } == name
        }
    }
}
