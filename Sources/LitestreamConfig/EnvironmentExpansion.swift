public import Foundation

/// `$VAR` / `${VAR}` expansion over the whole configuration text, as Litestream does with Go's `os.Expand` before
/// parsing the YAML, plus one deliberate extension: `$$` is a literal `$`.
///
/// Go's rules, kept exactly:
/// - `$NAME` takes the longest run of letters, digits and `_`; `${NAME}` takes everything up to the next `}` (even
///   across lines).
/// - An unset variable expands to the empty string.
/// - `$PID` is always this process's id (Litestream special-cases it; an environment variable `PID` is ignored).
/// - Special one-character names (`$1`, `$*`, `$#`, `$@`, `$!`, `$?`, `$-`) look up that name, which is never set,
///   so they vanish; `${}` vanishes; an unterminated `${` loses those two characters.
/// - A `$` followed by anything else (a space, `/`, the end of the text) stays.
///
/// The extension: Go turns `$$` into "" (a lookup of the variable `$`), so no working Litestream configuration can
/// contain it. We make it an escape for a literal dollar sign (passwords, bucket prefixes).
public enum EnvironmentExpansion {
    /// Expands `text`. `processID` is what `$PID` becomes.
    public static func expand(
        _ text: String, environment: [String: String],
        processID: Int32 = ProcessInfo.processInfo.processIdentifier
    ) -> String {
        let s = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var j = 0
        func lookup(_ name: [UInt8]) -> [UInt8] {
            let n = String(decoding: name, as: UTF8.self)
            if n == "PID" { return Array(String(processID).utf8) }
            return Array((environment[n] ?? "").utf8)
        }
        while j < s.count {
            let c = s[j]
            guard c == UInt8(ascii: "$"), j + 1 < s.count else {
                out.append(c)
                j += 1
                continue
            }
            let next = s[j + 1]
            if next == UInt8(ascii: "$") {  // our escape
                out.append(c)
                j += 2
            } else if next == UInt8(ascii: "{") {
                if j + 3 < s.count, isSpecial(s[j + 2]), s[j + 3] == UInt8(ascii: "}") {
                    out += lookup([s[j + 2]])
                    j += 4
                } else if let close = s[(j + 2)...].firstIndex(of: UInt8(ascii: "}")) {
                    if close > j + 2 { out += lookup(Array(s[(j + 2)..<close])) }
                    j = close + 1
                } else {
                    j += 2  // unterminated "${": Go eats it
                }
            } else if isSpecial(next) {
                out += lookup([next])
                j += 2
            } else {
                var end = j + 1
                while end < s.count, isNameByte(s[end]) { end += 1 }
                if end == j + 1 {
                    out.append(c)  // not followed by a name: the dollar stays
                } else {
                    out += lookup(Array(s[(j + 1)..<end]))
                }
                j = end
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isSpecial(_ c: UInt8) -> Bool {
        "*#$@!?-".utf8.contains(c) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }

    private static func isNameByte(_ c: UInt8) -> Bool {
        c == UInt8(ascii: "_") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
            || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
    }
}
