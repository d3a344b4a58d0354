import LitestreamClient
import Foundation
import Yams

/// One YAML mapping of the configuration file, read strictly: every value getter turns a type problem into a
/// ``ConfigurationError`` that names the key, the place in the schema (`dbs[0].replica`) and the line.
///
/// `<<` merge keys (`<<: *defaults`) are applied as YAML 1.1 (and Litestream's yaml.v2) does: keys written in the
/// mapping itself win. A key written twice in the same mapping is an error (yaml.v2 silently keeps the last).
struct ConfigMapping {
    struct Entry {
        var key: String
        var keyNode: Node
        var value: Node
    }

    /// Where this mapping sits, for messages: `dbs[0].replica`; empty at the top level.
    let context: String
    let node: Node
    let source: String
    private(set) var entries: [Entry] = []

    init(_ node: Node, context: String, source: String) throws {
        self.context = context
        self.node = node
        self.source = source
        guard case .mapping(let mapping) = node else {
            throw Self.error(.invalidValue, "expected a mapping (key: value lines) \(Self.place(context)), got \(Self.kind(node))",
                at: node, source: source)
        }
        var merged: [Entry] = []
        var explicit: [Entry] = []
        for (k, v) in mapping {
            guard let key = k.scalar?.string else {
                throw Self.error(.invalidValue, "keys must be plain strings \(Self.place(context))", at: k, source: source)
            }
            if key == "<<" {
                let sources: [Node] = if case .sequence(let seq) = v { Array(seq) } else { [v] }
                for s in sources {
                    let inner = try ConfigMapping(s, context: context, source: source)
                    for e in inner.entries where !merged.contains(where: { $0.key == e.key }) { merged.append(e) }
                }
                continue
            }
            if let first = explicit.first(where: { $0.key == key }) {
                throw Self.error(.invalidValue,
                    "duplicate key '\(key)' \(Self.place(context))\(Self.atLine(k)) (first at line \(first.keyNode.mark?.line ?? 0))",
                    at: k, source: source)
            }
            explicit.append(Entry(key: key, keyNode: k, value: v))
        }
        entries = explicit + merged.filter { m in !explicit.contains { $0.key == m.key } }
    }

    var keys: [String] { entries.map(\.key) }

    /// Rejects keys outside `allowed`. `removed` maps keys of older Litestream versions to an explanation.
    func checkKeys(allowed: Set<String>, removed: [String: String] = [:]) throws {
        for e in entries where !allowed.contains(e.key) {
            if let why = removed[e.key] {
                throw error(.removedKey, "key '\(e.key)' \(Self.place(context))\(Self.atLine(e.keyNode)) was \(why)",
                    at: e.keyNode)
            }
            var message = "unknown key '\(e.key)' \(Self.place(context))\(Self.atLine(e.keyNode))"
            if let suggestion = KeySuggestion.closest(to: e.key, in: allowed.sorted()) {
                message += "; did you mean '\(suggestion)'?"
            }
            throw error(.unknownKey, message, at: e.keyNode)
        }
    }

    /// The value of `key`; nil when absent or written as null (`key:` with nothing after it), as yaml.v2 treats it.
    subscript(key: String) -> Node? {
        guard let v = entries.first(where: { $0.key == key })?.value else { return nil }
        if case .scalar(let s) = v, s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) {
            return nil
        }
        return v
    }

    func has(_ key: String) -> Bool { self[key] != nil }

    // MARK: Typed getters

    func scalar(_ key: String, expected: String) throws -> (String, Node)? {
        guard let v = self[key] else { return nil }
        guard case .scalar(let s) = v else {
            throw error(.invalidValue, "expected \(expected) for '\(key)' \(Self.place(context))\(Self.atLine(v)), got \(Self.kind(v))",
                at: v)
        }
        return (s.string, v)
    }

    func string(_ key: String) throws -> String? {
        try scalar(key, expected: "a string").map(\.0)
    }

    func bool(_ key: String) throws -> Bool? {
        guard let found = try scalar(key, expected: "true or false") else { return nil }
        let (s, node) = found
        switch s.lowercased() {
        case "true", "yes", "on", "y": return true
        case "false", "no", "off", "n": return false
        default: throw invalid(key, node, "true or false", s)
        }
    }

    func int(_ key: String, range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let found = try scalar(key, expected: "an integer") else { return nil }
        let (s, node) = found
        guard let n = Int(s.replacingOccurrences(of: "_", with: "")) else { throw invalid(key, node, "an integer", s) }
        if let range, !range.contains(n) {
            throw invalid(key, node, "an integer from \(range.lowerBound) to \(range.upperBound)", s)
        }
        return n
    }

    /// A Go duration. `minimum` rejects smaller values (negative ones by default).
    func duration(_ key: String, minimum: Duration = .zero) throws -> Duration? {
        let expected = "a duration like 10s, 5m, 1h30m"
        guard let found = try scalar(key, expected: expected) else { return nil }
        let (s, node) = found
        guard let d = GoDuration.parse(s) else {
            var message = "expected \(expected), got '\(s)' for \(key) \(Self.place(context))\(Self.atLine(node))"
            if Int(s) != nil {
                // yaml.v2 reads a bare number as nanoseconds; almost never what was meant.
                message += " (a bare number needs a unit, e.g. '\(s)s')"
            }
            throw error(.invalidValue, message, at: node)
        }
        guard d >= minimum else {
            throw error(.invalidValue,
                "\(key) must be at least \(GoDuration.format(minimum)), got '\(s)' \(Self.place(context))\(Self.atLine(node))",
                at: node)
        }
        return d
    }

    /// A byte size (`4096`, `10MiB`, `64 MB`).
    func size(_ key: String) throws -> Int64? {
        guard let found = try scalar(key, expected: "a size") else { return nil }
        let (s, node) = found
        guard let n = ByteSize.parse(s) else { throw invalid(key, node, "a size like 4096, 10MiB, 1GiB", s) }
        return n
    }

    func mapping(_ key: String) throws -> ConfigMapping? {
        guard let v = self[key] else { return nil }
        return try ConfigMapping(v, context: Self.join(context, key), source: source)
    }

    func sequence(_ key: String) throws -> [Node]? {
        guard let v = self[key] else { return nil }
        guard case .sequence(let seq) = v else {
            throw error(.invalidValue, "expected a list for '\(key)' \(Self.place(context))\(Self.atLine(v)), got \(Self.kind(v))",
                at: v)
        }
        return Array(seq)
    }

    // MARK: Errors

    func invalid(_ key: String, _ node: Node, _ expected: String, _ got: String) -> ConfigurationError {
        error(.invalidValue, "expected \(expected), got '\(got)' for \(key) \(Self.place(context))\(Self.atLine(node))", at: node)
    }

    func error(_ code: ConfigurationError.Code, _ message: String, at node: Node? = nil) -> ConfigurationError {
        Self.error(code, message, at: node ?? self.node, source: source)
    }

    /// The node of `key`'s value, else of the mapping, for locating an error about it.
    func location(_ key: String) -> Node { self[key] ?? entries.first { $0.key == key }?.keyNode ?? node }

    var place: String { Self.place(context) }

    static func error(_ code: ConfigurationError.Code, _ message: String, at node: Node?, source: String)
        -> ConfigurationError
    {
        ConfigurationError(code, message, line: node?.mark?.line, column: node?.mark?.column, source: source)
    }

    static func place(_ context: String) -> String { context.isEmpty ? "at top level" : "in \(context)" }

    static func atLine(_ node: Node) -> String { node.mark.map { " at line \($0.line)" } ?? "" }

    static func join(_ context: String, _ key: String) -> String { context.isEmpty ? key : "\(context).\(key)" }

    static func kind(_ node: Node) -> String {
        switch node {
        case .scalar(let s): "'\(s.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }
}
