/// Just enough of Swift's lexical structure for `install` to read a manifest or a source file by text and edit it
/// without a compiler: which bytes are code, comment or string literal (with `\(...)` interpolations read as code,
/// `"""` and `#"..."#` strings), matching brackets, call arguments and plain string literals.
///
/// Install edits only what this view can delimit exactly; anything it cannot read (a value that is not a literal, an
/// argument list it cannot split) is reported to the user instead of guessed at.
struct SwiftSource {
    enum Kind: Equatable { case code, comment, string }

    /// One argument of a call: `label: value` or an unlabelled value; offsets into ``bytes``, `value` trimmed.
    struct Argument {
        var label: String?
        /// Where the argument (label included) starts, after leading whitespace and comments.
        var start: Int
        var value: Range<Int>
    }

    /// A call `name(...)`: where its name starts, its parentheses and its arguments.
    struct Call {
        var nameStart: Int
        var open: Int
        var close: Int
        var arguments: [Argument]

        func argument(_ label: String) -> Argument? { arguments.first { $0.label == label } }
    }

    let bytes: [UInt8]
    let kinds: [Kind]

    init(_ text: String) {
        bytes = Array(text.utf8)
        kinds = Self.classify(bytes)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }

    /// 1-based line of a byte offset.
    func line(of offset: Int) -> Int { 1 + bytes[..<min(offset, bytes.count)].lazy.filter { $0 == 10 }.count }

    /// The whitespace that starts the line holding `offset`.
    func indentation(ofLineAt offset: Int) -> String {
        var start = offset
        while start > 0, bytes[start - 1] != 10 { start -= 1 }
        var end = start
        while end < bytes.count, bytes[end] == 32 || bytes[end] == 9 { end += 1 }
        return string(start..<end)
    }

    /// True when only whitespace (or comments) stands between the start of the line and `offset`.
    func startsLine(_ offset: Int) -> Bool {
        var i = offset - 1
        while i >= 0, bytes[i] != 10 {
            if !Self.isSpace(bytes[i]), kinds[i] != .comment { return false }
            i -= 1
        }
        return true
    }

    /// The end of the line holding `offset` (the offset of its newline) when nothing but whitespace and comments
    /// follow `offset` on it; nil when code does.
    func restOfLineIsBlank(after offset: Int) -> Int? {
        var i = offset
        while i < bytes.count, bytes[i] != 10 {
            if !Self.isSpace(bytes[i]), kinds[i] != .comment { return nil }
            i += 1
        }
        return i
    }

    // MARK: - Calls

    /// Every call of `name` in code: `name` followed by `(` (`.package`, `DatabasePool`). A name that does not start
    /// with `.` must not be the tail of a longer identifier.
    func calls(_ name: String) -> [Call] {
        let needle = Array(name.utf8)
        var found: [Call] = []
        var i = 0
        while i + needle.count < bytes.count {
            defer { i += 1 }
            guard kinds[i] == .code, bytes[i] == needle[0], Array(bytes[i..<(i + needle.count)]) == needle else { continue }
            if needle[0] != UInt8(ascii: "."), i > 0, Self.isIdentifierByte(bytes[i - 1]) { continue }
            var j = i + needle.count
            while j < bytes.count, Self.isSpace(bytes[j]) { j += 1 }
            guard j < bytes.count, bytes[j] == UInt8(ascii: "("), kinds[j] == .code,
                  let close = matchingClose(j) else { continue }
            found.append(Call(nameStart: i, open: j, close: close, arguments: arguments(between: j, close)))
        }
        return found
    }

    /// The call that starts exactly at `offset` (after whitespace), if any: `.file("x")` as an argument's value.
    func call(at range: Range<Int>) -> Call? {
        var j = range.lowerBound
        while j < range.upperBound, bytes[j] != UInt8(ascii: "(") {
            guard Self.isIdentifierByte(bytes[j]) || bytes[j] == UInt8(ascii: ".") else { return nil }
            j += 1
        }
        guard j < range.upperBound, let close = matchingClose(j), close == range.upperBound - 1 else { return nil }
        return Call(nameStart: range.lowerBound, open: j, close: close, arguments: arguments(between: j, close))
    }

    /// The name of the call or member at `range` up to its `(`: `.file` for `.file("x")`.
    func calleeName(_ range: Range<Int>) -> String {
        var j = range.lowerBound
        while j < range.upperBound, bytes[j] != UInt8(ascii: "(") { j += 1 }
        return string(range.lowerBound..<j).trimmingWhitespace
    }

    /// The bracket that closes the `(`, `[` or `{` at `open`, in code.
    func matchingClose(_ open: Int) -> Int? {
        var depth = 0
        var i = open
        while i < bytes.count {
            if kinds[i] == .code {
                switch bytes[i] {
                case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
                case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
                    depth -= 1
                    if depth == 0 { return i }
                default: break
                }
            }
            i += 1
        }
        return nil
    }

    /// The comma-separated items between an opening bracket and its close (call arguments, array elements).
    func arguments(between open: Int, _ close: Int) -> [Argument] {
        var items: [Argument] = []
        var depth = 0
        var itemStart = open + 1
        func finish(_ end: Int) {
            var s = itemStart
            while s < end, Self.isSpace(bytes[s]) || kinds[s] == .comment { s += 1 }
            var e = end
            while e > s, Self.isSpace(bytes[e - 1]) || kinds[e - 1] == .comment { e -= 1 }
            guard s < e else { return }
            // `label:` at the start: an identifier, then a colon (not `::`, not inside the value).
            var k = s
            while k < e, Self.isIdentifierByte(bytes[k]) { k += 1 }
            var c = k
            while c < e, Self.isSpace(bytes[c]) { c += 1 }
            if k > s, c < e, bytes[c] == UInt8(ascii: ":"), kinds[c] == .code {
                var v = c + 1
                while v < e, Self.isSpace(bytes[v]) || kinds[v] == .comment { v += 1 }
                items.append(Argument(label: string(s..<k), start: s, value: v..<e))
            } else {
                items.append(Argument(label: nil, start: s, value: s..<e))
            }
        }
        var i = open + 1
        while i < close {
            if kinds[i] == .code {
                switch bytes[i] {
                case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
                case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
                case UInt8(ascii: ",") where depth == 0:
                    finish(i)
                    itemStart = i + 1
                default: break
                }
            }
            i += 1
        }
        finish(close)
        return items
    }

    /// The array literal at `range` (`[...]` exactly), as its open and close brackets.
    func arrayLiteral(_ range: Range<Int>) -> (open: Int, close: Int)? {
        guard !range.isEmpty, bytes[range.lowerBound] == UInt8(ascii: "["),
              matchingClose(range.lowerBound) == range.upperBound - 1 else { return nil }
        return (range.lowerBound, range.upperBound - 1)
    }

    /// The value of a plain string literal at `range` (`"..."`, no interpolation, simple escapes); nil for anything
    /// else (an expression, a variable, an interpolated or multi-line string).
    func stringLiteral(_ range: Range<Int>) -> String? {
        guard range.count >= 2, bytes[range.lowerBound] == UInt8(ascii: "\""), bytes[range.upperBound - 1] == UInt8(ascii: "\""),
              range.dropFirst().dropLast().allSatisfy({ kinds[$0] == .string }) else { return nil }
        let inner = Array(bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
        if inner.starts(with: Array("\"\"".utf8)) { return nil }  // a multi-line literal
        var out: [UInt8] = []
        var i = 0
        while i < inner.count {
            if inner[i] == UInt8(ascii: "\\") {
                guard i + 1 < inner.count else { return nil }
                switch inner[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "'"): out.append(inner[i + 1])
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                default: return nil  // interpolation, unicode escapes: not a plain literal
                }
                i += 2
            } else {
                out.append(inner[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Lexing

    private enum Context {
        case string(multiline: Bool, hashes: Int)
        case interpolation(depth: Int)
    }

    static func classify(_ s: [UInt8]) -> [Kind] {
        var kinds = [Kind](repeating: .code, count: s.count)
        var stack: [Context] = []
        let quote = UInt8(ascii: "\""), hash = UInt8(ascii: "#"), slash = UInt8(ascii: "/"), star = UInt8(ascii: "*")
        func at(_ i: Int) -> UInt8 { i < s.count ? s[i] : 0 }
        var i = 0
        while i < s.count {
            if case .string(let multiline, let hashes)? = stack.last {
                kinds[i] = .string
                if s[i] == UInt8(ascii: "\\") {
                    var j = i + 1
                    var n = 0
                    while n < hashes, at(j) == hash { j += 1; n += 1 }
                    if n == hashes, at(j) == UInt8(ascii: "(") {
                        for k in i...j { kinds[k] = .string }
                        stack.append(.interpolation(depth: 1))
                        i = j + 1
                    } else if hashes == 0 {
                        if i + 1 < s.count { kinds[i + 1] = .string }
                        i += 2
                    } else {
                        i += 1
                    }
                    continue
                }
                let quotes = multiline ? 3 : 1
                if (0..<quotes).allSatisfy({ at(i + $0) == quote }), (0..<hashes).allSatisfy({ at(i + quotes + $0) == hash }) {
                    for k in i..<min(s.count, i + quotes + hashes) { kinds[k] = .string }
                    stack.removeLast()
                    i += quotes + hashes
                    continue
                }
                i += 1
                continue
            }
            // Code (the top level or inside an interpolation).
            if s[i] == slash, at(i + 1) == slash {
                while i < s.count, s[i] != 10 { kinds[i] = .comment; i += 1 }
                continue
            }
            if s[i] == slash, at(i + 1) == star {
                var depth = 0
                repeat {
                    if s[i] == slash, at(i + 1) == star { depth += 1; kinds[i] = .comment; kinds[i + 1] = .comment; i += 2; continue }
                    if s[i] == star, at(i + 1) == slash { depth -= 1; kinds[i] = .comment; kinds[i + 1] = .comment; i += 2; continue }
                    if s[i] != 10 { kinds[i] = .comment }
                    i += 1
                } while depth > 0 && i < s.count
                continue
            }
            if s[i] == quote || s[i] == hash {
                var j = i
                var hashes = 0
                while at(j) == hash { j += 1; hashes += 1 }
                if at(j) == quote {
                    let multiline = at(j + 1) == quote && at(j + 2) == quote
                    let end = j + (multiline ? 3 : 1)
                    for k in i..<min(s.count, end) { kinds[k] = .string }
                    stack.append(.string(multiline: multiline, hashes: hashes))
                    i = end
                    continue
                }
            }
            if case .interpolation(let depth)? = stack.last {
                if s[i] == UInt8(ascii: "(") {
                    stack[stack.count - 1] = .interpolation(depth: depth + 1)
                } else if s[i] == UInt8(ascii: ")") {
                    if depth == 1 {
                        kinds[i] = .string
                        stack.removeLast()
                        i += 1
                        continue
                    }
                    stack[stack.count - 1] = .interpolation(depth: depth - 1)
                }
            }
            i += 1
        }
        return kinds
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 }

    static func isIdentifierByte(_ c: UInt8) -> Bool {
        c == UInt8(ascii: "_") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
            || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || c >= 0x80
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
