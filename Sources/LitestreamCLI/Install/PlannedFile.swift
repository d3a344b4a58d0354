import Foundation

/// A file install writes or edits, what it would contain, and what happened to it.
///
/// - An *owned* file (the two YAML files, a Dockerfile install wrote) is compared whole with what install writes:
///   missing → written; equal → unchanged; different → the user edited it: left alone with a short diff, unless
///   `--force`.
/// - An *edited* file (Package.swift, the app's own Dockerfile) is the current file with install's insertions
///   applied; insertions already there count as applied, so a second run finds nothing to add.
/// - A *manual* file could not be edited with certainty: install prints what to add and where.
struct PlannedFile {
    enum Content {
        case owned(String)
        case edited(String?, insertions: [String])
        case manual(reason: String, instructions: [String])
    }

    enum Outcome: String {
        case written, unchanged
        /// Differs from what install writes (the user edited it): not touched.
        case left
        /// Not edited: install could not do it with certainty; the user adds the printed lines.
        case notEdited = "not edited"
    }

    var path: String
    var content: Content

    /// Decides, writes unless `dryRun`, and reports on standard output.
    func apply(root: URL, force: Bool, dryRun: Bool) throws -> Outcome {
        let url = root.appendingPathComponent(path)
        let current = try? String(contentsOf: url, encoding: .utf8)
        let would = dryRun ? "would write" : "wrote"
        switch content {
        case .owned(let text):
            if current == text {
                print("\(path): unchanged")
                return .unchanged
            }
            if let current, !force {
                print("\(path): differs from what install writes (edited?); left alone. Run with --force to replace it. Changes:")
                print(LineDiff.render(old: current, new: text))
                return .left
            }
            print("\(path): \(would)\(current == nil ? "" : " (replacing an edited file: --force)")")
            if dryRun { print(Self.indented(text)) }
            try write(text, to: url, dryRun: dryRun)
            return .written
        case .edited(let text, let insertions):
            guard let text else {
                print("\(path): unchanged (install's additions are there)")
                return .unchanged
            }
            print("\(path): \(dryRun ? "would add" : "added"):")
            print(Self.indented(insertions.joined(separator: "\n")))
            try write(text, to: url, dryRun: dryRun)
            return .written
        case .manual(let reason, let instructions):
            printWarning("\(path) not edited: \(reason). Add by hand:\n" + Self.indented(instructions.joined(separator: "\n")))
            return .notEdited
        }
    }

    private func write(_ text: String, to url: URL, dryRun: Bool) throws {
        if dryRun { return }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
    }

    static func indented(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n")
    }
}
