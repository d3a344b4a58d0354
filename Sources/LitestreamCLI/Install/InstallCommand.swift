import ArgumentParser
import Foundation

/// `litestream install` (ours): sets an app up for replication, once it depends on this package. See docs/install.md.
///
/// It reads Package.swift and the app's sources (never the environment: no `LITESTREAM_*` value is read, so none
/// can be printed) and writes the configuration files, the products and trait in Package.swift and a Dockerfile.
/// Every file is planned first (``PlannedFile``); a file the user edited is left alone unless `--force`.
struct InstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Sets up a Vapor or Hummingbird app for replication (not in Litestream).",
        discussion: """
            Run it in the app's directory (swift run litestream install). It detects the framework from \
            Package.swift, finds the app's SQLite databases in its target's sources (Fluent's .sqlite(.file(...)), \
            GRDB's DatabaseQueue/DatabasePool(path:)), and writes config/litestream.yml (S3, every setting from a \
            LITESTREAM_* variable), config/litestream.development.yml (backups/ beside the app), our products and \
            the framework's trait in Package.swift, and a Dockerfile (or install's blocks in the app's own). It prints \
            the app code to add. A file that differs from what install writes is left alone (unless -force); \
            running it twice changes nothing. It ignores LITESTREAM_CONFIG. Exit 0 when done (files install could \
            not edit are reported with the lines to add), 1 when the app cannot be set up, 64 when an option is \
            needed or wrong.
            """
    )

    @Option(name: .litestream("package-path"), help: "The app's package directory.")
    var packagePath = "."

    @Option(name: .litestream("database"), help: ArgumentHelp(
        "A database file of the app, relative to its working directory (repeatable). Replaces the search of the sources.",
        valueName: "path"))
    var databases: [String] = []

    @Option(name: .litestream("framework"), help: "vapor or hummingbird; needed only when Package.swift names both or neither.")
    var framework: Framework?

    @Option(name: .litestream("target"), help: "The app's executable target (default: the one that depends on the framework).")
    var target: String?

    @Flag(name: .litestream("dry-run"), help: "Write nothing; print what would be written.")
    var dryRun = false

    @Flag(name: .litestream("force"), help: "Replace install's files even where they differ from what it writes.")
    var force = false

    /// Why the app cannot be set up; `usage` when an option would fix it (exit 64).
    struct Failure: Error {
        var message: String
        var usage = false
    }

    func run() throws {
        do {
            try install()
        } catch let failure as Failure {
            printError(failure.message)
            throw ExitCode(failure.usage ? 64 : 1)
        } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
    }

    private func install() throws {
        let root = URL(fileURLWithPath: packagePath).standardizedFileURL
        guard let manifestText = try? String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8) else {
            throw Failure(message: "no Package.swift in \(root.path): run install in the app's directory, or pass --package-path DIR", usage: true)
        }
        let manifest = PackageManifest(manifestText)
        let framework = try resolveFramework(manifest)
        guard let dependency = manifest.litestreamDependency else {
            throw Failure(message: """
                Package.swift does not depend on litestream-swift. Add to its dependencies:
                    .package(url: "\(Self.packageURL)", from: "0.1.0", traits: ["\(framework.trait)"]),
                then run install again.
                """)
        }
        let target = try resolveTarget(manifest, framework: framework)
        let (databases, locations) = try resolveDatabases(target: target, root: root)

        print("litestream install: \(framework.displayName) app, target \(target.name), package \(dependency.identity)\(dryRun ? " (dry run: nothing is written)" : "")")
        print("Databases (paths relative to the app's working directory):")
        for (db, location) in zip(databases, locations) { print("  \(db)  (\(location))") }

        let files = [
            PlannedFile(path: ReplicationConfigFiles.productionPath, content: .owned(ReplicationConfigFiles.production(databases: databases))),
            PlannedFile(path: ReplicationConfigFiles.developmentPath, content: .owned(ReplicationConfigFiles.development(databases: databases))),
            manifestPlan(ManifestEdit(manifest: manifest, framework: framework, dependency: dependency, target: target), current: manifestText),
            try dockerfilePlan(root: root, framework: framework, target: target.name, databases: databases, tools: manifest.toolsVersion),
        ]
        var outcomes: [(String, PlannedFile.Outcome)] = []
        for file in files { outcomes.append((file.path, try file.apply(root: root, force: force, dryRun: dryRun))) }

        for db in DockerfileBlocks(databases: databases).databaseDirectories(workdir: "/app").topLevel {
            printWarning("""
                \(db) is in the app's working directory itself: the Docker image cannot give it a volume of its own \
                (a volume over the app's directory would hide the app). Move it into a directory, e.g. data/\(db), and \
                run install again (--force rewrites install's files).
                """)
        }
        if let version = Self.macOSVersion(manifest), version < 15 {
            printWarning("Package.swift's platforms say .macOS(.v\(version)); litestream-swift needs .macOS(.v15) to build on macOS.")
        }

        print("\nAdd to the app (install does not edit Swift sources):\n")
        print(PlannedFile.indented(AppCodeSnippet.text(for: framework, database: databases[0])))
        print("\nSet in production (values from your platform's secrets; never commit them):")
        for v in ReplicationConfigFiles.variables { print("  \(v.name): \(v.meaning)") }
        print("  LITESTREAM_PASSWORD: the dashboard's password (without it the dashboard stays closed)")
        // `swift run App` builds the app alone; the supervisor looks for the replicator beside it.
        print("\nRun it locally (backups to ./backups): swift build --product litestream && swift run \(target.name)")

        print("\nSummary:")
        for (path, outcome) in outcomes {
            let label = dryRun && outcome == .written ? "would write" : outcome.rawValue
            let note = switch outcome {
            case .left: "  (differs from what install writes; --force replaces it)"
            case .notEdited: "  (add the lines shown above)"
            default: ""
            }
            print("  " + label.padding(toLength: 12, withPad: " ", startingAt: 0) + path + note)
        }
    }

    /// Where the docs say the package lives.
    static let packageURL = "https://github.com/litestream-swift/litestream-swift"

    private func resolveFramework(_ manifest: PackageManifest) throws -> Framework {
        if let framework { return framework }
        let detected = Framework.detect(in: manifest.source)
        if detected.count == 1 { return detected[0] }
        throw Failure(message: detected.isEmpty
            ? "Package.swift names neither Vapor (github.com/vapor/vapor, .product(name: \"Vapor\")) nor Hummingbird "
                + "(hummingbird-project/hummingbird, .product(name: \"Hummingbird\")): pass --framework vapor or --framework hummingbird"
            : "Package.swift names both Vapor and Hummingbird: pass --framework vapor or --framework hummingbird",
            usage: true)
    }

    private func resolveTarget(_ manifest: PackageManifest, framework: Framework) throws -> PackageManifest.Target {
        let targets = manifest.executableTargets
        let names = targets.map(\.name).joined(separator: ", ")
        if let target {
            guard let found = targets.first(where: { $0.name == target }) else {
                throw Failure(message: "Package.swift has no .executableTarget(name: \"\(target)\") (executable targets: \(names.isEmpty ? "none" : names))", usage: true)
            }
            return found
        }
        let candidates = targets.filter { $0.productNames.contains(framework.frameworkProduct) }
        if candidates.count == 1 { return candidates[0] }
        if candidates.isEmpty, targets.count == 1 { return targets[0] }
        throw Failure(message: candidates.isEmpty
            ? "no executable target depends on .product(name: \"\(framework.frameworkProduct)\") (executable targets: \(names.isEmpty ? "none" : names)): pass --target NAME"
            : "several executable targets depend on \(framework.frameworkProduct) (\(candidates.map(\.name).joined(separator: ", "))): pass --target NAME",
            usage: true)
    }

    /// The databases, as written, and where each was found.
    private func resolveDatabases(target: PackageManifest.Target, root: URL) throws -> ([String], [String]) {
        if !databases.isEmpty {
            var unique: [String] = []
            for db in databases where !unique.contains(db) { unique.append(db) }
            return (unique, unique.map { _ in "--database" })
        }
        guard let directory = target.sourcePath else {
            throw Failure(message: "the path: of target \(target.name) is not a string literal: pass --database PATH for each database", usage: true)
        }
        let found = try DatabaseDiscovery(directory: directory, root: root.path)
        if !found.unreadable.isEmpty {
            var message = "install cannot tell which file a database is opened with:\n"
            for u in found.unreadable { message += "  \(u.location): \(u.expression)\n" }
            for f in found.found { message += "  (found \(f.path) at \(f.location))\n" }
            message += "Pass --database PATH for every database of the app (as the app opens it, relative to its working directory)."
            throw Failure(message: message, usage: true)
        }
        guard !found.found.isEmpty else {
            throw Failure(message: "no SQLite database found in \(directory) (looked for \(DatabaseDiscovery.patterns)): "
                + "pass --database PATH", usage: true)
        }
        return (found.found.map(\.path), found.found.map(\.location))
    }

    private func manifestPlan(_ edit: ManifestEdit, current: String) -> PlannedFile {
        switch edit.result() {
        case .unchanged:
            return PlannedFile(path: "Package.swift", content: .edited(nil, insertions: []))
        case .edited(let text, let insertions):
            return PlannedFile(path: "Package.swift", content: .edited(text, insertions: insertions.map(\.description)
                + ["", "Lines (- before, + after):", LineDiff.render(old: current, new: text, limit: 60)]))
        case .manual(let reason, let lines):
            return PlannedFile(path: "Package.swift", content: .manual(reason: reason, instructions: lines))
        }
    }

    private func dockerfilePlan(root: URL, framework: Framework, target: String, databases: [String],
                                tools: (major: Int, minor: Int)?) throws -> PlannedFile {
        let template = DockerfileTemplate(framework: framework, target: target, databases: databases,
                                          swiftVersion: DockerfileTemplate.swiftVersion(tools: tools))
        guard let existing = try? String(contentsOf: root.appendingPathComponent("Dockerfile"), encoding: .utf8),
              !existing.hasPrefix(DockerfileTemplate.header) else {
            return PlannedFile(path: "Dockerfile", content: .owned(template.text))
        }
        switch DockerfileEditor(framework: framework, databases: databases).result(for: existing) {
        case .unchanged:
            return PlannedFile(path: "Dockerfile", content: .edited(nil, insertions: []))
        case .edited(let text, let blocks):
            return PlannedFile(path: "Dockerfile", content: .edited(text, insertions: blocks))
        case .manual(let reason, let blocks):
            return PlannedFile(path: "Dockerfile", content: .manual(reason: reason, instructions: blocks))
        }
    }

    /// The macOS version of `.macOS(.vN)` in the manifest's platforms, if any.
    static func macOSVersion(_ manifest: PackageManifest) -> Int? {
        let code = manifest.source.codeText
        guard let r = code.range(of: #"\.macOS\(\s*\.v[0-9]+"#, options: .regularExpression) else { return nil }
        return Int(code[r].drop { !$0.isNumber })
    }
}

func printWarning(_ message: String) {
    FileHandle.standardError.write(Data("Warning: \(message)\n".utf8))
}
