import Foundation

/// What install adds to an app's `Package.swift`: our products in the app's target's `dependencies:`, the
/// framework's trait on the dependency on this package, and `swift-tools-version: 6.1` (traits need it) where the
/// manifest says 6.0.
///
/// Edits are textual and only where ``SwiftSource`` delimits the spot exactly: an array literal for the target's
/// dependencies and for `traits:`, the argument list of the `.package(` call. Anything else (a dependencies list
/// built in a variable, a tools version before 6.0) is not guessed at: the edit becomes ``Result/manual(_:)``, with
/// the exact lines to add.
struct ManifestEdit {
    /// One change: text inserted at an offset (or replacing a range), and what it does, for the user.
    struct Insertion {
        var range: Range<Int>
        var text: String
        var description: String
    }

    enum Result {
        /// Nothing to add.
        case unchanged
        /// The new manifest and its insertions.
        case edited(String, [Insertion])
        /// The manifest cannot be edited with certainty: why, and what to add by hand.
        case manual(reason: String, lines: [String])
    }

    let manifest: PackageManifest
    let framework: Framework
    let dependency: PackageManifest.Dependency
    let target: PackageManifest.Target

    /// `.product(name: "LitestreamVapor", package: "litestream-swift")`.
    func productLine(_ product: String) -> String {
        ".product(name: \"\(product)\", package: \(jsonString(dependency.identity)))"
    }

    func result() -> Result {
        var insertions: [Insertion] = []
        let source = manifest.source
        let missing = framework.products.filter { !target.productNames.contains($0) }
        let manualLines = missing.map { "in the dependencies of .executableTarget(name: \"\(target.name)\"): \(productLine($0))," }

        // Products.
        if !missing.isEmpty {
            guard let deps = target.call.argument("dependencies"), let array = source.arrayLiteral(deps.value) else {
                return .manual(reason: "the dependencies of target \(target.name) are not an array literal",
                               lines: manualLines + traitLines())
            }
            insertions.append(appending(missing.map(productLine), toItems: source.arguments(between: array.open, array.close),
                                        open: array.open, close: array.close,
                                        description: missing.map { "target \(target.name): \(productLine($0))" }.joined(separator: "\n")))
        }

        // The trait.
        let call = dependency.call
        if let traits = call.argument("traits") {
            guard let array = source.arrayLiteral(traits.value) else {
                return .manual(reason: "the traits: of the litestream-swift dependency are not an array literal",
                               lines: manualLines + ["add \"\(framework.trait)\" to the traits: of the litestream-swift dependency"])
            }
            let items = source.arguments(between: array.open, array.close)
            if !items.contains(where: { source.stringLiteral($0.value) == framework.trait }) {
                insertions.append(appending(["\"\(framework.trait)\""], toItems: items, open: array.open, close: array.close,
                                            forceInline: true, description: "litestream-swift dependency: trait \"\(framework.trait)\""))
            }
        } else {
            let arguments = call.arguments
            guard !arguments.isEmpty else {
                return .manual(reason: "the litestream-swift dependency has no arguments install can read", lines: manualLines + traitLines())
            }
            insertions.append(appending(["traits: [\"\(framework.trait)\"]"], toItems: arguments, open: call.open, close: call.close,
                                        forceInline: !source.startsLine(arguments.last!.start),
                                        description: "litestream-swift dependency: traits: [\"\(framework.trait)\"]"))
        }

        // Traits in a manifest need tools version 6.1. 6.0 → 6.1 changes nothing else; from 5.x, the Swift 6
        // language mode would come with it: not ours to switch.
        if !insertions.isEmpty || call.argument("traits") != nil, let (major, minor) = manifest.toolsVersion,
           (major, minor) < (6, 1), let line = manifest.toolsVersionLine {
            guard major == 6 else {
                return .manual(reason: "traits need swift-tools-version 6.1 and this manifest says \(major).\(minor) (Swift 5 language mode); "
                                   + "install does not change the language mode", lines: ["// swift-tools-version: 6.1  (the first line)"] + manualLines + traitLines())
            }
            let old = source.string(line)
            let new = old.replacingFirst("\(major).\(minor)", with: "6.1")
            insertions.append(Insertion(range: line, text: new, description: "swift-tools-version \(major).\(minor) → 6.1 (traits need it)"))
        }

        guard !insertions.isEmpty else { return .unchanged }
        var bytes = source.bytes
        for i in insertions.sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
            bytes.replaceSubrange(i.range, with: Array(i.text.utf8))
        }
        return .edited(String(decoding: bytes, as: UTF8.self), insertions)
    }

    private func traitLines() -> [String] {
        ["in the litestream-swift .package(...): traits: [\"\(framework.trait)\"] (or add \"\(framework.trait)\" to its traits)"]
    }

    /// Appends `newItems` to a bracketed list: one per line, indented like the last item, when the list has one
    /// item per line; else on the same line. A trailing comma stays where it is.
    private func appending(_ newItems: [String], toItems items: [SwiftSource.Argument], open: Int, close: Int,
                           forceInline: Bool = false, description: String) -> Insertion {
        let source = manifest.source
        guard let last = items.last else {
            return Insertion(range: (open + 1)..<(open + 1), text: newItems.joined(separator: ", "), description: description)
        }
        let end = last.value.upperBound
        // A trailing comma after the last item?
        var after = end
        while after < close, SwiftSource.isSpace(source.bytes[after]) || source.kinds[after] == .comment { after += 1 }
        let trailingComma = after < close && source.bytes[after] == UInt8(ascii: ",")
        if forceInline || !source.startsLine(last.start) {
            return Insertion(range: end..<end, text: ", " + newItems.joined(separator: ", "), description: description)
        }
        let indent = source.indentation(ofLineAt: last.start)
        let lines = newItems.map { "\n" + indent + $0 + "," }.joined()
        if trailingComma {
            // After the comma's line, so a comment on it stays with its item.
            let at = source.restOfLineIsBlank(after: after + 1) ?? (after + 1)
            return Insertion(range: at..<at, text: lines, description: description)
        }
        let at = source.restOfLineIsBlank(after: end) ?? end
        // `last` gets the comma it lacked; the new items keep the list's trailing-comma-free ending.
        var text = lines
        text.removeLast()
        if at == end {
            return Insertion(range: end..<end, text: "," + text, description: description)
        }
        // A comment after the last item: the comma goes right after the item, the new lines after the comment.
        return Insertion(range: end..<at, text: "," + source.string(end..<at) + text, description: description)
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = range(of: target) else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}
