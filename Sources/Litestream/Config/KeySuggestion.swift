import Foundation

/// "Did you mean …?" for misspelt keys: the valid key closest by edit distance, if it is close enough to be a
/// plausible typo (at most a third of the key's length, at least 1, at most 3 edits) or differs only by `_`/`-`.
enum KeySuggestion {
    static func closest(to key: String, in candidates: some Sequence<String>) -> String? {
        let normalized = key.lowercased().replacingOccurrences(of: "_", with: "-")
        var best: (String, Int)?
        for c in candidates {
            if c == normalized { return c }
            let d = distance(Array(normalized), Array(c))
            if best == nil || d < best!.1 { best = (c, d) }
        }
        guard let best else { return nil }
        let limit = min(3, max(1, key.count / 3))
        return best.1 <= limit ? best.0 : nil
    }

    /// Levenshtein distance, two rows.
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
