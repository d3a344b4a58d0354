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

    /// Edit distance where swapping two adjacent characters counts as one edit (optimal string alignment), since
    /// `levle` for `level` is the most common typo.
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
