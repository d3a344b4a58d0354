import Foundation
import Testing

/// The Dockerfiles `litestream install` writes (its own, and the frameworks' templates with its blocks) are valid
/// (hadolint, and a reading of their instructions here) and their run stage installs the Debian package of every
/// shared library our `litestream` links. No Docker engine runs on these machines.
@Suite struct InstallDockerfileTests {
    typealias App = InstallCommandTests.App

    /// Each Dockerfile install writes, by name: for both frameworks, fresh and in the template.
    static func dockerfiles() throws -> [(String, String)] {
        var out: [(String, String)] = []
        for (name, make) in [("vapor", InstallCommandTests.vaporApp), ("hummingbird", InstallCommandTests.hummingbirdApp)] {
            for template in [true, false] {
                let app = try make("dockerfile-\(name)", template)
                defer { app.remove() }
                let r = try app.install()
                try #require(r.status == 0, "\(r.stderr)")
                out.append(("\(name) \(template ? "template" : "fresh")", try #require(app.read("Dockerfile"))))
            }
        }
        return out
    }

    static var hadolint: String? {
        let path = TestEnvironment.repositoryRoot.appendingPathComponent(".venv/bin/hadolint").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// hadolint (scripts/lib.sh installs it): no error (a parse failure is one). Its warnings are style
    /// (unpinned apt versions, which the templates share) and are not failures.
    @Test(.enabled(if: hadolint != nil || TestEnvironment.isCI)) func hadolintFindsNoError() throws {
        let hadolint = try #require(Self.hadolint, "hadolint missing: run scripts/test.sh")
        let dir = try TestEnvironment.temporaryDirectory("hadolint")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, text) in try Self.dockerfiles() {
            let file = dir.appendingPathComponent("Dockerfile").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            let r = try TestEnvironment.run(hadolint, ["--no-color", "--failure-threshold", "error", file])
            #expect(r.status == 0, "\(name): \(r.stdout)\(r.stderr)")
            #expect(!r.stdout.contains(" error:"), "\(name): \(r.stdout)")
        }
    }

    /// Every line is an instruction, a continuation or a comment; the build stages are named; each COPY --from
    /// names an earlier stage; the run stage is Ubuntu's and starts the app.
    @Test func instructionsAreWellFormed() throws {
        let known: Set<String> = ["FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                                  "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"]
        for (name, text) in try Self.dockerfiles() {
            let instructions = Self.instructions(text)
            #expect(instructions.allSatisfy { known.contains($0.keyword) }, "\(name): \(instructions.map(\.keyword))")
            let froms = instructions.filter { $0.keyword == "FROM" }
            #expect(froms.count == 2, "\(name)")
            var stages: [String] = []
            for i in instructions {
                if i.keyword == "FROM" {
                    let words = i.arguments.split(separator: " ")
                    if words.count == 3, words[1].lowercased() == "as" { stages.append(String(words[2])) } else { stages.append("") }
                }
                if i.keyword == "COPY", let from = i.arguments.split(separator: " ").first(where: { $0.hasPrefix("--from=") }) {
                    #expect(stages.dropLast().contains(String(from.dropFirst(7))), "\(name): \(i.arguments)")
                }
                if i.keyword == "VOLUME" || i.keyword == "ENTRYPOINT" {
                    #expect(i.arguments.hasPrefix("[\""), "\(name): JSON form: \(i.arguments)")
                }
            }
            #expect(!stages.dropLast().contains(""), "\(name): the build stage is named")
            #expect(froms.last?.arguments == "ubuntu:noble", "\(name)")
            #expect(instructions.contains { $0.keyword == "HEALTHCHECK" && $0.arguments.contains("http://127.0.0.1:8080/litestream/health") }, "\(name)")
            #expect(instructions.contains { $0.keyword == "RUN" && $0.arguments.contains("--product litestream") }, "\(name)")
        }
    }

    /// The run stage's `apt-get install` names the Debian package of each library the built `litestream` links
    /// outside the Swift toolchain (which `--static-swift-stdlib` links in) and outside ubuntu:noble's base.
    @Test func runtimeStageHasWhatTheBinaryLinks() throws {
        let litestream = try #require(TestEnvironment.ourBinary()?.path)
        let ldd = try TestEnvironment.run("ldd", [litestream])
        try #require(ldd.status == 0, "\(ldd.stderr)")
        let base: Set<String> = ["libc6", "libgcc-s1", "libstdc++6", "zlib1g"]
        var needed: Set<String> = []
        for line in ldd.stdout.split(separator: "\n") {
            guard let arrow = line.range(of: "=> ") else { continue }
            let path = String(line[arrow.upperBound...].prefix { $0 != " " })
            if path.contains("/lib/swift/") || path.isEmpty { continue }  // the toolchain's runtime
            let package = try #require(try Self.debianPackage(of: path), "no package owns \(path)")
            if !base.contains(package) { needed.insert(package) }
        }
        #expect(needed.contains("libsqlite3-0") && needed.contains("liblz4-1"), "\(needed)")
        for (name, text) in try Self.dockerfiles() {
            let installed = Self.runStagePackages(text)
            #expect(needed.isSubset(of: installed), "\(name): missing \(needed.subtracting(installed)) from \(installed)")
            #expect(installed.contains("ca-certificates") && installed.contains("curl"), "\(name)")
        }
    }

    // MARK: - Reading a Dockerfile

    struct Instruction {
        var keyword: String
        var arguments: String
    }

    /// Logical instructions: continuations joined, comment and blank lines (also inside continuations) dropped.
    static func instructions(_ text: String) -> [Instruction] {
        var out: [Instruction] = []
        var current: String?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") || (line.isEmpty && current != nil) { continue }
            if line.isEmpty { continue }
            let continued = line.hasSuffix("\\")
            let part = continued ? String(line.dropLast()).trimmingCharacters(in: .whitespaces) : line
            current = current.map { $0 + " " + part } ?? part
            if !continued, let whole = current {
                let keyword = String(whole.prefix { !$0.isWhitespace })
                out.append(Instruction(keyword: keyword.uppercased(), arguments: whole.dropFirst(keyword.count).trimmingCharacters(in: .whitespaces)))
                current = nil
            }
        }
        return out
    }

    /// The packages `apt-get install` names in the last stage.
    static func runStagePackages(_ text: String) -> Set<String> {
        let all = instructions(text)
        let start = all.lastIndex { $0.keyword == "FROM" } ?? 0
        var packages: Set<String> = []
        for i in all[start...] where i.keyword == "RUN" {
            for command in i.arguments.components(separatedBy: "&&") {
                let words = command.split(separator: " ").map(String.init)
                guard let at = words.firstIndex(of: "install"), words[..<at].contains(where: { $0.hasSuffix("apt-get") }) else { continue }
                packages.formUnion(words[(at + 1)...].filter { !$0.hasPrefix("-") })
            }
        }
        return packages
    }

    /// `dpkg -S` of a library path, trying the /usr-merged spelling and the resolved file too.
    static func debianPackage(of path: String) throws -> String? {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        for candidate in [path, "/usr" + path, resolved, "/usr" + resolved] {
            let r = try TestEnvironment.run("dpkg", ["-S", candidate])
            if r.status == 0, let first = r.stdout.split(separator: "\n").first, let colon = first.firstIndex(of: ":") {
                return String(first[..<colon])
            }
        }
        return nil
    }
}
