import LitestreamClient
import LitestreamCore
public import Foundation
import Yams

extension LitestreamConfiguration {
    /// Where the configuration is read from: the `-config` flag, else `$LITESTREAM_CONFIG`, else
    /// `/etc/litestream.yml`. `explicit` is false only for the built-in default, so that a caller can tolerate its
    /// absence (as Litestream does when command-line arguments replace the file).
    public static func resolvePath(
        flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> (path: String, explicit: Bool) {
        if let flag, !flag.isEmpty { return (flag, true) }
        if let env = environment["LITESTREAM_CONFIG"], !env.isEmpty { return (env, true) }
        return (defaultPath, false)
    }

    /// `/etc/litestream.yml`.
    public static var defaultPath: String { "/etc/litestream.yml" }

    /// Reads and parses the file at `path` (see ``parse(yaml:source:expandEnvironment:environment:)``).
    public static func load(
        path: String, expandEnvironment: Bool = true,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> LitestreamConfiguration {
        let text: String
        var st = stat()
        // A directory gave "NSCocoaErrorDomain error 256", /dev/zero (as root) "You don't have permission".
        if stat(path, &st) == 0, st.st_mode & S_IFMT != S_IFREG {
            throw ConfigurationError(.io, "cannot read configuration file \(path): it is "
                + (st.st_mode & S_IFMT == S_IFDIR ? "a directory" : "not a regular file")
                + "; give the path of a YAML file, e.g. -config /etc/litestream.yml", source: path)
        }
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(.io, "cannot read configuration file: \(error.localizedDescription)", source: path,
                cause: error)
        }
        return try parse(yaml: text, source: path, expandEnvironment: expandEnvironment, environment: environment)
    }

    /// Parses a configuration.
    ///
    /// - Parameters:
    ///   - source: the name used in error messages (the file name).
    ///   - expandEnvironment: expand `$VAR`/`${VAR}` over the whole text first (``EnvironmentExpansion``); false is
    ///     `-no-expand-env`.
    ///   - environment: the variables for expansion, `LOG_LEVEL` and `HOME` (for `~`).
    /// - Throws: ``ConfigurationError`` with the line and column of the offending key or value.
    public static func parse(
        yaml: String, source: String = "<config>", expandEnvironment: Bool = true,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> LitestreamConfiguration {
        let text = expandEnvironment ? EnvironmentExpansion.expand(yaml, environment: environment) : yaml
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw yamlError(e, source: source)
        } catch {
            throw ConfigurationError(.yaml, "invalid YAML: \(error)", source: source)
        }
        var config = LitestreamConfiguration()
        if let root {
            let mergeSources = try checkExpansion(root, source: source)
            try config.read(ConfigMapping(root, context: "", source: source), home: PathExpansion.home(environment: environment),
                mergeSources: mergeSources)
        }
        if let level = environment["LOG_LEVEL"], !level.isEmpty {
            guard let l = Logging.level(level) else {
                throw ConfigurationError(.invalidValue,
                    "LOG_LEVEL=\(level) is not a log level (debug, info, warn, error)", source: source)
            }
            config.logging.level = l
        }
        return config
    }

    /// - Parameter mergeSources: where the mappings merged with `<<` start: a top-level key that only holds one
    ///   (`defaults: &defaults {…}`, merged as `<<: *defaults`, as Rails users write shared settings) is no typo.
    private mutating func read(_ m: ConfigMapping, home: String, mergeSources: Set<String>) throws {
        let anchors = m.entries.filter { e in e.value.mark.map { mergeSources.contains("\($0.line):\($0.column)") } ?? false }
        try m.checkKeys(allowed: Self.keys.union(ReplicaSettings.keys)
            .union(anchors.map(\.key)))
        // Top-level replica defaults are read first: every replica inherits them.
        replicaDefaults = try ReplicaSettings(reading: m, home: home)

        if let levels = try m.sequence("levels") {
            var parsed: [CompactionLevel] = []
            for (i, node) in levels.enumerated() {
                let l = try ConfigMapping(node, context: "levels[\(i)]", source: m.source)
                try l.checkKeys(allowed: ["interval"])
                guard let interval = try l.duration("interval"), interval > .zero else {
                    throw l.error(.invalidValue, "levels[\(i)].interval must be greater than 0\(ConfigMapping.atLine(node))",
                        at: l.location("interval"))
                }
                parsed.append(CompactionLevel(level: i + 1, interval: interval))
            }
            guard !parsed.isEmpty, parsed.count <= 8 else {
                throw m.error(.invalidValue, "'levels' needs 1 to 8 entries, got \(parsed.count)", at: m.location("levels"))
            }
            self.levels = parsed
        }
        if let s = try m.mapping("snapshot") {
            try s.checkKeys(allowed: ["interval", "retention"])
            if let v = try s.duration("interval") { snapshot.interval = v }
            if let v = try s.duration("retention") { snapshot.retention = v }
        }
        if let v = try m.duration("l0-retention") { l0Retention = v }
        if let v = try m.duration("l0-retention-check-interval") { l0RetentionCheckInterval = v }
        if let r = try m.mapping("retention") {
            try r.checkKeys(allowed: ["enabled"])
            if let v = try r.bool("enabled") { retentionEnabled = v }
        }
        if let v = try m.mapping("validation") {
            try v.checkKeys(allowed: ["interval"])
            validationInterval = try v.duration("interval")
        }
        if let v = try m.bool("verify-compaction") { verifyCompaction = v }
        if let v = try m.duration("shutdown-sync-timeout") { shutdownSyncTimeout = v }
        if let v = try m.duration("shutdown-sync-interval") { shutdownSyncInterval = v }
        heartbeatURL = try m.string("heartbeat-url").flatMap { $0.isEmpty ? nil : Secret($0) }
        if let url = heartbeatURL?.value, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw m.error(.invalidValue, "heartbeat-url must be an http:// or https:// URL\(ConfigMapping.atLine(m.location("heartbeat-url")))",
                at: m.location("heartbeat-url"))
        }
        if let v = try m.duration("heartbeat-interval", minimum: .seconds(60)) { heartbeatInterval = v }
        addr = try m.string("addr").flatMap { $0.isEmpty ? nil : $0 }
        if let s = try m.mapping("socket") {
            try s.checkKeys(allowed: ["enabled", "path", "permissions"])
            if let v = try s.bool("enabled") { socket.enabled = v }
            if let v = try s.string("path") { socket.path = PathExpansion.expand(v, home: home) }
            if case let (text, node)? = try s.scalar("permissions", expected: "octal permissions like 0600") {
                // YAML 1.1 (yaml.v2) reads 0600 as octal; accept 0o600 and a quoted "0600" too.
                let digits = text.hasPrefix("0o") ? String(text.dropFirst(2)) : text
                guard let p = UInt32(digits, radix: 8), p <= 0o777 else {
                    throw s.invalid("permissions", node, "octal permissions like 0600", text)
                }
                socket.permissions = p
            }
        }
        mcpAddr = try m.string("mcp-addr").flatMap { $0.isEmpty ? nil : $0 }
        exec = try m.string("exec").flatMap { $0.isEmpty ? nil : $0 }
        if let l = try m.mapping("logging") {
            try l.checkKeys(allowed: ["level", "type", "stderr", "source"])
            if case let (text, node)? = try l.scalar("level", expected: "a log level") {
                guard let level = Logging.level(text) else {
                    throw l.invalid("level", node, "one of debug, info, warn, error", text)
                }
                logging.level = level
            }
            if case let (text, node)? = try l.scalar("type", expected: "text or json") {
                guard let f = Logging.Format(rawValue: text.lowercased()) else {
                    throw l.invalid("type", node, "text or json", text)
                }
                logging.type = f
            }
            if let v = try l.bool("stderr") { logging.stderr = v }
            if let v = try l.bool("source") { logging.source = v }
        }

        // Databases, with the per-database `snapshot:` promoted to global (all must agree, as in Litestream).
        var promoted: (interval: (Duration, String)?, retention: (Duration, String)?) = (nil, nil)
        var seen: [String: Int] = [:]
        var replicaOwners: [String: String] = [:]
        for (i, node) in (try m.sequence("dbs") ?? []).enumerated() {
            let d = try ConfigMapping(node, context: "dbs[\(i)]", source: m.source)
            let (db, snap) = try DatabaseConfiguration.read(d, defaults: replicaDefaults, home: home)
            let identity = db.path ?? db.directory.map { "dir:\($0.path)/\($0.pattern)" } ?? ""
            if let first = seen[identity] {
                throw d.error(.invalidValue,
                    "database \(db.displayName) in dbs[\(i)]\(ConfigMapping.atLine(node)) is already listed as dbs[\(first)]; each database can be listed only once",
                    at: d.location("path"))
            }
            seen[identity] = i
            // Two databases in one replica make a chain of both, whose restores are neither (issue 19.3): refused
            // here, where the runtime check would stop one of them only once both run.
            if db.path != nil {
                for r in db.replicas {
                    guard let location = r.locationIdentity else { continue }
                    if let owner = replicaOwners[location] {
                        throw d.error(.invalidValue,
                            "database \(db.displayName) in dbs[\(i)]\(ConfigMapping.atLine(node)) has the replica \(r) of \(owner); each database needs a replica of its own (another path or prefix)",
                            at: d.location("path"))
                    }
                    replicaOwners[location] = "database \(db.displayName) (dbs[\(i)])"
                }
            }
            if let snap {
                for (value, which) in [(snap.interval, "interval"), (snap.retention, "retention")] {
                    guard let value else { continue }
                    let previous = which == "interval" ? promoted.interval : promoted.retention
                    if let previous, previous.0 != value {
                        throw d.error(.invalidValue,
                            "conflicting snapshot \(which): \(previous.1) has \(GoDuration.format(previous.0)), \(db.displayName) has \(GoDuration.format(value)) (snapshots are global; set them once at the top level)",
                            at: snap.node)
                    }
                    if which == "interval" { promoted.interval = (value, db.displayName) } else { promoted.retention = (value, db.displayName) }
                }
            }
            databases.append(db)
        }
        if let p = promoted.interval { snapshot.interval = p.0 }
        if let p = promoted.retention { snapshot.retention = p.0 }
    }

    /// Anchors merged into each other (a "merge-key bomb" of a few dozen lines) expand exponentially, and reading
    /// them would hang: a document that expands to more than `limit` nodes, counting each alias as a copy, is
    /// refused before anything reads it, as yaml.v2 refuses "excessive aliasing". Returns where the mappings
    /// merged with `<<` start ("line:column"; an alias has its anchor's position).
    static func checkExpansion(_ root: Node, source: String, limit: Int = 100_000) throws -> Set<String> {
        var count = 0
        var mergeSources = Set<String>()
        func visit(_ node: Node) -> Bool {
            count += 1
            switch node {
            case .scalar: return count <= limit
            case .mapping(let m):
                for (k, merged) in m where k.scalar?.string == "<<" {
                    let sources: [Node] = if case .sequence(let seq) = merged { Array(seq) } else { [merged] }
                    for s in sources { if let at = s.mark { mergeSources.insert("\(at.line):\(at.column)") } }
                }
                return count <= limit && m.allSatisfy { visit($0.key) && visit($0.value) }
            case .sequence(let s): return count <= limit && s.allSatisfy(visit)
            }
        }
        guard visit(root) else {
            throw ConfigurationError(.yaml, "invalid YAML: excessive aliasing: its anchors and aliases (<< merge keys) "
                + "expand to more than \(limit) values; merge each anchor at most a few times", source: source)
        }
        return mergeSources
    }

    private static func yamlError(_ e: YamlError, source: String) -> ConfigurationError {
        switch e {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let ctx = context.map { "\($0.text) " } ?? ""
            return ConfigurationError(.yaml, "invalid YAML: \(ctx)\(problem)", line: mark.line, column: mark.column,
                source: source)
        default:
            return ConfigurationError(.yaml, "invalid YAML: \(e)", source: source)
        }
    }
}
