import Foundation

/// Paths on a WebDAV server, as lists of decoded segments.
enum WebDAVPath {
    /// The segments of `path`, cleaned as Go's `path.Clean`: empty and `.` segments dropped, `..` removing the
    /// one before it.
    static func normalize(_ path: String) -> [String] {
        var out: [String] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": _ = out.popLast()
            default: out.append(String(segment))
            }
        }
        return out
    }

    /// `/a/b%20c/` from `["a", "b c"]`: each segment percent-encoded (everything but RFC 3986's unreserved
    /// characters and the sub-delimiters a path may hold), with a trailing `/` for a collection.
    static func encode(_ segments: [String], collection: Bool) -> String {
        var out = "/" + segments.map(encode).joined(separator: "/")
        if collection && !segments.isEmpty { out += "/" }
        return out
    }

    static func encode(_ segment: String) -> String {
        var out = ""
        for byte in segment.utf8 {
            if isAllowed(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    private static func isAllowed(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "-._~!$'()*,;=:@".utf8.contains(b)
        }
    }

    /// The last segment of an `href` from a PROPFIND answer (an absolute URL or an absolute path,
    /// percent-encoded), decoded; nil for the root.
    static func lastSegment(ofHref href: String) -> String? {
        var path = Substring(href.trimmingSpaces())
        if let r = path.range(of: "://") {
            let rest = path[r.upperBound...]
            path = rest.firstIndex(of: "/").map { rest[$0...] } ?? ""
        }
        if let q = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<q] }
        guard let last = path.split(separator: "/").last else { return nil }
        return String(last).removingPercentEncoding ?? String(last)
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }

    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
