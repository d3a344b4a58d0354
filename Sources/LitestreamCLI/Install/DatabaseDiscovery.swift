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
        var urls: [URL] = []
        let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil)
        while let url = walker?.nextObject() as? URL {
            if url.pathExtension == "swift" { urls.append(url) }
        }
        var files: [(SwiftSource, String)] = []
        for url in urls.sorted(by: { $0.path < $1.path }) {
            let relative = directory + url.path.dropFirst(base.path.count)
            files.append((SwiftSource(try String(contentsOf: url, encoding: .utf8)), relative))
        }
        self.init(files: files)
    }

    init(files: [(SwiftSource, String)]) {
        let constants = Self.stringConstants(files.map(\.0))
        for (source, file) in files { scan(source, file: file, constants: constants) }
    }

    /// `let NAME = "literal"` declarations whose name is declared once (by `let` or `var`) in all the files: a path
    /// kept in a constant (`let databasePath = "data/app.sqlite"`) is as certain as one written in the call.
    static func stringConstants(_ sources: [SwiftSource]) -> [String: String] {
        var values: [String: String] = [:]
        var declarations: [String: Int] = [:]
        for source in sources {
            let code = source.codeText
            let utf8 = Array(code.utf8)
            for match in code.matches(of: /\b(?:let|var)\s+([A-Za-z_][A-Za-z0-9_]*)\b/) {
                let start = code.utf8.distance(from: code.utf8.startIndex, to: match.range.lowerBound.samePosition(in: code.utf8) ?? code.utf8.startIndex)
                guard start < utf8.count, source.kinds[start] == .code else { continue }
                declarations[String(match.1), default: 0] += 1
            }
            for match in code.matches(of: /\blet\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*String\s*)?=\s*("[^"\n]*")/) {
                let start = code.utf8.distance(from: code.utf8.startIndex, to: match.2.startIndex.samePosition(in: code.utf8) ?? code.utf8.startIndex)
                let end = start + match.2.utf8.count
                guard source.kinds[start] == .string, let value = source.stringLiteral(start..<end) else { continue }
                values[String(match.1)] = value
            }
        }
        return values.filter { declarations[$0.key] == 1 }
    }

    private mutating func scan(_ source: SwiftSource, file: String, constants: [String: String]) {
        func note(_ range: Range<Int>, _ literal: String?) {
            var location = "\(file):\(source.line(of: range.lowerBound))"
            var value = literal
            // A constant: `databasePath`, `Self.databasePath`, `App.databasePath`.
            let expression = source.string(range)
            if value == nil, let name = expression.split(separator: ".").last.map(String.init),
               expression.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }), let constant = constants[name] {
                value = constant
                location += ", via \(name)"
            }
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
