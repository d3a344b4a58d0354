import Foundation

/// Finds the SQLite database files an app opens, in the Swift sources of its target: Fluent's
/// `.sqlite(.file("PATH"))` (and `storage: .file(path: "PATH")`), GRDB's `DatabaseQueue(path: "PATH")` and
/// `DatabasePool(path: "PATH")`. In-memory databases are ignored. A database opened with a path that is not a string
/// literal is reported with its location, for the user to name with `--database`.
struct DatabaseDiscovery {
    struct Found: Equatable {
        /// As written in the source: relative to the app's working directory, or absolute.
        var path: String
        /// `Sources/App/configure.swift:12`.
        var location: String
    }

    struct Unreadable: Equatable {
        /// The expression that gives the path, as written.
        var expression: String
        var location: String
    }

    var found: [Found] = []
    var unreadable: [Unreadable] = []

    /// What is looked for, for messages.
    static let patterns = #".sqlite(.file("PATH")), .file(path: "PATH"), DatabaseQueue(path: "PATH"), DatabasePool(path: "PATH")"#

    /// Scans every `.swift` file below `directory` (`root`-relative paths in the locations).
    init(directory: String, root: String) throws {
        let base = URL(fileURLWithPath: root).appendingPathComponent(directory)
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return }
        var files: [URL] = []
        for case let url as URL in walker where url.pathExtension == "swift" { files.append(url) }
        for url in files.sorted(by: { $0.path < $1.path }) {
            let text = try String(contentsOf: url, encoding: .utf8)
            let relative = directory + url.path.dropFirst(base.path.count)
            scan(SwiftSource(text), file: relative)
        }
    }

    init(source: SwiftSource, file: String) {
        scan(source, file: file)
    }

    private mutating func scan(_ source: SwiftSource, file: String) {
        func note(_ range: Range<Int>, _ value: String?) {
            let location = "\(file):\(source.line(of: range.lowerBound))"
            if let value {
                if value != ":memory:", !value.isEmpty, !found.contains(where: { $0.path == value }) {
                    found.append(Found(path: value, location: location))
                }
            } else {
                unreadable.append(Unreadable(expression: source.string(range), location: location))
            }
        }
        // Fluent: `.sqlite(.file("db.sqlite"))`; `.sqlite(.memory)` and `.sqlite()` are in memory.
        for call in source.calls(".sqlite") {
            guard let first = call.arguments.first, first.label == nil || first.label == "configuration" else { continue }
            let value = source.string(first.value)
            if value.hasPrefix(".memory") { continue }
            if let file = source.call(at: first.value), source.calleeName(first.value) == ".file",
               let arg = file.arguments.first, file.arguments.count == 1, arg.label == nil || arg.label == "path" {
                note(arg.value, source.stringLiteral(arg.value))
            } else {
                note(first.value, nil)
            }
        }
        // `SQLiteConfiguration(storage: .file(path: "db.sqlite"))`.
        for call in source.calls(".file") {
            guard let arg = call.argument("path"), call.arguments.count == 1 else { continue }
            let before = source.string(max(0, call.nameStart - 40)..<call.nameStart)
            guard before.trimmingWhitespace.hasSuffix("storage:") else { continue }
            note(arg.value, source.stringLiteral(arg.value))
        }
        // GRDB.
        for name in ["DatabaseQueue", "DatabasePool"] {
            for call in source.calls(name) {
                guard let arg = call.argument("path") else { continue }  // `DatabaseQueue()`, `(named:)`: in memory
                note(arg.value, source.stringLiteral(arg.value))
            }
        }
    }
}
