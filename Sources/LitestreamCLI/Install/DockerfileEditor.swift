import Foundation

/// Inserts install's blocks (``DockerfileBlocks``) into an app's own multi-stage Dockerfile, such as the ones
/// `vapor new` and Hummingbird's template write:
///
/// - the build libraries after the build stage's `FROM`;
/// - a RUN that builds `litestream` after the app's build RUN (the RUN in the build stage that runs
///   `swift build ... --product`), with that RUN's `--mount` flags, staging it where the run stage copies from;
/// - the runtime libraries after the run stage's `FROM`;
/// - the databases' directories, volumes, the health check (and, for Hummingbird, `APP_ENV=production`) before the
///   run stage's `USER` (else its `ENTRYPOINT`).
///
/// A block whose first line is already in the file counts as there. When the file's shape does not give each spot
/// for certain (one stage, no build RUN, no `COPY --from` of an absolute staging directory, no `WORKDIR`, heredocs),
/// nothing is edited: ``Result/manual(reason:blocks:)`` says what to add where.
struct DockerfileEditor {
    struct Instruction {
        var keyword: String
        /// Line indices, first to last (continuations and comments inside included).
        var lines: ClosedRange<Int>
        /// The arguments, continuation lines joined.
        var arguments: String
    }

    enum Result {
        case unchanged
        case edited(String, [String])
        case manual(reason: String, blocks: [String])
    }

    var framework: Framework
    var databases: [String]

    func result(for text: String) -> Result {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var blocks = DockerfileBlocks(databases: databases)
        let manualBlocks = [
            "after the build stage's FROM:\n" + blocks.buildLibraries,
            "after the build stage's RUN swift build (same --mount flags; STAGING is where the run stage copies from):\n"
                + blocks.buildReplicator(staging: "STAGING", mounts: []),
            "after the run stage's FROM:\n" + blocks.runtimeLibraries(),
            "before the run stage's USER (WORKDIR is the run stage's working directory):\n" + beforeUser(blocks, workdir: "WORKDIR", owner: "USER"),
        ]
        func manual(_ reason: String) -> Result { .manual(reason: reason, blocks: manualBlocks) }

        guard let instructions = Self.parse(lines) else { return manual("it uses heredocs or ends inside a continuation") }
        let froms = instructions.indices.filter { instructions[$0].keyword == "FROM" }
        guard froms.count >= 2, let finalFrom = froms.last else { return manual("it does not have a build stage and a run stage") }
        let final = Array(instructions[finalFrom...])

        // The build stage: the one the run stage copies its staging directory from.
        guard let copy = final.first(where: { $0.keyword == "COPY" && $0.arguments.contains("--from=") }) else {
            return manual("its run stage copies nothing from a build stage (no COPY --from=)")
        }
        let copyWords = copy.arguments.split(separator: " ").map(String.init)
        let paths = copyWords.filter { !$0.hasPrefix("--") }
        guard let from = copyWords.first(where: { $0.hasPrefix("--from=") })?.dropFirst(7), paths.count == 2,
              paths[0].hasPrefix("/") else {
            return manual("its run stage's COPY --from does not copy one absolute staging directory")
        }
        let staging = paths[0].hasSuffix("/") && paths[0].count > 1 ? String(paths[0].dropLast()) : paths[0]
        let stageStarts = froms.dropLast()
        let buildFrom = stageStarts.first { index in
            let words = instructions[index].arguments.split(separator: " ")
            return words.count >= 3 && words[words.count - 2].lowercased() == "as" && words.last! == from
        } ?? Int(from).flatMap { $0 < stageStarts.count ? stageStarts[stageStarts.startIndex + $0] : nil }
        guard let buildFrom else { return manual("no stage is named \(from)") }
        let buildEnd = froms.first { $0 > buildFrom } ?? instructions.count
        let buildStage = instructions[buildFrom..<buildEnd]
        guard let buildRun = buildStage.last(where: {
            $0.keyword == "RUN" && $0.arguments.contains("swift build") && $0.arguments.contains("--product")
        }) else {
            return manual("its build stage has no RUN swift build ... --product")
        }
        let mounts = buildRun.arguments.split(separator: " ").prefix { $0.hasPrefix("--") }.map(String.init)

        // The run stage: where the user is set (or the entrypoint), its working directory and port.
        guard let anchor = final.first(where: { $0.keyword == "USER" }) ?? final.first(where: { $0.keyword == "ENTRYPOINT" || $0.keyword == "CMD" }) else {
            return manual("its run stage has no USER, ENTRYPOINT or CMD")
        }
        guard let workdir = final.last(where: { $0.keyword == "WORKDIR" && $0.lines.lowerBound < anchor.lines.lowerBound })?.arguments,
              workdir.hasPrefix("/"), !workdir.contains("$") else {
            return manual("its run stage sets no absolute WORKDIR before its USER")
        }
        let owner = anchor.keyword == "USER" ? anchor.arguments : nil
        let exposed = final.filter { $0.keyword == "EXPOSE" }.flatMap { $0.arguments.split(separator: " ") }
        if exposed.count == 1, let port = exposed.first.map({ String($0.prefix { $0.isNumber }) }), !port.isEmpty {
            blocks.port = port
        }

        // The insertions, each where it goes, unless its first line is already in the file.
        let present = Set(lines.map { $0.trimmingWhitespace })
        var insertions: [(line: Int, text: String)] = []
        func insert(_ block: String, at line: Int, blankBefore: Bool) {
            guard let first = block.split(separator: "\n").first, !present.contains(String(first).trimmingWhitespace) else { return }
            insertions.append((line, blankBefore ? "\n" + block : block + "\n"))
        }
        insert(blocks.buildLibraries, at: instructions[buildFrom].lines.upperBound + 1, blankBefore: true)
        insert(blocks.buildReplicator(staging: staging, mounts: mounts), at: buildRun.lines.upperBound + 1, blankBefore: true)
        insert(blocks.runtimeLibraries(), at: instructions[finalFrom].lines.upperBound + 1, blankBefore: true)
        // Before the comment lines that introduce the anchor.
        var before = anchor.lines.lowerBound
        while before > 0, lines[before - 1].trimmingWhitespace.hasPrefix("#") { before -= 1 }
        insert(beforeUser(blocks, workdir: workdir, owner: owner), at: before, blankBefore: false)

        guard !insertions.isEmpty else { return .unchanged }
        var out = lines
        for (line, block) in insertions.sorted(by: { $0.line > $1.line }) {
            out.insert(contentsOf: block.split(separator: "\n", omittingEmptySubsequences: false).map(String.init), at: line)
        }
        return .edited(out.joined(separator: "\n"), insertions.map { $0.text.trimmingWhitespace })
    }

    private func beforeUser(_ blocks: DockerfileBlocks, workdir: String, owner: String?) -> String {
        var block = blocks.volumesAndHealthCheck(workdir: workdir, owner: owner)
        if framework == .hummingbird {
            // One block, whose first line is the volume or health marker: APP_ENV goes at its end.
            block += "\n\(DockerfileBlocks.marker) the app reads config/litestream.yml, not the development file\nENV APP_ENV=production"
        }
        return block
    }

    /// The instructions, with the lines each spans; nil for a heredoc or a continuation that never ends.
    static func parse(_ lines: [String]) -> [Instruction]? {
        var out: [Instruction] = []
        var i = 0
        while i < lines.count {
            let line = lines[i].trimmingWhitespace
            if line.isEmpty || line.hasPrefix("#") { i += 1; continue }
            let start = i
            var parts: [String] = []
            var current = line
            while true {
                if current.contains("<<") && start == i && current.range(of: #"<<-?\s*['"]?[A-Za-z_]+"#, options: .regularExpression) != nil {
                    return nil
                }
                if current.hasSuffix("\\") {
                    parts.append(String(current.dropLast()).trimmingWhitespace)
                    i += 1
                    // Comment and empty lines inside a continuation are skipped, as Docker does.
                    while i < lines.count, lines[i].trimmingWhitespace.hasPrefix("#") || lines[i].trimmingWhitespace.isEmpty { i += 1 }
                    guard i < lines.count else { return nil }
                    current = lines[i].trimmingWhitespace
                } else {
                    parts.append(current)
                    break
                }
            }
            let joined = parts.filter { !$0.isEmpty }.joined(separator: " ")
            let keyword = joined.prefix { !$0.isWhitespace }
            let arguments = String(joined.dropFirst(keyword.count)).trimmingWhitespace
            out.append(Instruction(keyword: keyword.uppercased(), lines: start...i, arguments: arguments))
            i += 1
        }
        return out
    }
}
