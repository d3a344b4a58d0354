/// A short line diff (`-` lines of the file, `+` lines install would write), to show the user what they changed in a
/// file install left alone. Longest common subsequence over lines; files here are a few dozen lines.
enum LineDiff {
    static func render(old: String, new: String, limit: Int = 20) -> String {
        let a = old.split(separator: "\n", omittingEmptySubsequences: false)
        let b = new.split(separator: "\n", omittingEmptySubsequences: false)
        guard a.count * b.count <= 4_000_000 else { return "  (the files differ; too long to compare here)" }
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var out: [String] = []
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                i += 1; j += 1
            } else if i < a.count, j == b.count || lcs[i + 1][j] >= lcs[i][j + 1] {
                out.append("  - \(a[i])"); i += 1
            } else {
                out.append("  + \(b[j])"); j += 1
            }
        }
        if out.count > limit { return (out.prefix(limit) + ["  ... (\(out.count - limit) more changed lines)"]).joined(separator: "\n") }
        return out.joined(separator: "\n")
    }
}
