import Foundation

/// An app's `Package.swift`, read by text (``SwiftSource``): its tools version, its executable targets and its
/// dependency on this package. Nothing is evaluated; what is not a literal is not known.
struct PackageManifest {
    /// `.package(...)`: this package as the app depends on it.
    struct Dependency {
        var call: SwiftSource.Call
        /// The name `.product(package:)` must use: the `name:` argument, else the last component of the URL
        /// (without `.git`) or path.
        var identity: String
    }

    /// `.executableTarget(name: "...", ...)`.
    struct Target {
        var call: SwiftSource.Call
        var name: String
        /// Its sources: the `path:` argument, else `Sources/<name>`; nil when `path:` is not a literal.
        var sourcePath: String?
        /// The products named in its `dependencies:` array.
        var productNames: [String]
    }

    let source: SwiftSource
    let toolsVersion: (major: Int, minor: Int)?
    /// The `// swift-tools-version:` line's range (its first line).
    let toolsVersionLine: Range<Int>?

    init(_ text: String) {
        source = SwiftSource(text)
        let firstLine = text.prefix { $0 != "\n" }
        let prefix = "// swift-tools-version:"
        if firstLine.lowercased().hasPrefix(prefix) {
            toolsVersionLine = 0..<firstLine.utf8.count
            let number = firstLine.dropFirst(prefix.count).drop { $0 == " " }.prefix { $0.isNumber || $0 == "." }
            let parts = number.split(separator: ".").compactMap { Int($0) }
            toolsVersion = parts.count >= 1 ? (parts[0], parts.count > 1 ? parts[1] : 0) : nil
        } else {
            toolsVersionLine = nil
            toolsVersion = nil
        }
    }

    /// The dependency on this package: a `.package(` whose url, path or name mentions `litestream-swift`.
    var litestreamDependency: Dependency? {
        for call in source.calls(".package") {
            let name = call.argument("name").flatMap { source.stringLiteral($0.value) }
            let location = (call.argument("url") ?? call.argument("path")).flatMap { source.stringLiteral($0.value) }
            guard [name, location].contains(where: { $0?.lowercased().contains("litestream-swift") == true }) else { continue }
            var identity = name ?? location.map { Self.lastComponent($0) } ?? "litestream-swift"
            if identity.isEmpty { identity = "litestream-swift" }
            return Dependency(call: call, identity: identity)
        }
        return nil
    }

    /// `https://github.com/o/litestream-swift.git` → `litestream-swift`.
    static func lastComponent(_ location: String) -> String {
        var s = Substring(location)
        while s.hasSuffix("/") { s = s.dropLast() }
        var last = s.split(separator: "/").last.map(String.init) ?? String(s)
        if last.hasSuffix(".git") { last = String(last.dropLast(4)) }
        return last
    }

    var executableTargets: [Target] {
        source.calls(".executableTarget").compactMap { call in
            guard let name = call.argument("name").flatMap({ source.stringLiteral($0.value) }) else { return nil }
            let sourcePath: String? = if let path = call.argument("path") {
                source.stringLiteral(path.value)
            } else {
                "Sources/\(name)"
            }
            let products = call.argument("dependencies").map { deps in
                source.calls(".product").filter { deps.value.contains($0.nameStart) }
                    .compactMap { $0.argument("name").flatMap { source.stringLiteral($0.value) } }
            } ?? []
            return Target(call: call, name: name, sourcePath: sourcePath, productNames: products)
        }
    }
}
