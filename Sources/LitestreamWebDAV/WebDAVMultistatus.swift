import Foundation
import LitestreamHTTP

/// The entries of a PROPFIND answer (`207 Multi-Status`): name, size, whether a collection, last modification.
struct WebDAVMultistatus {
    struct Entry: Equatable {
        /// The last segment of the `href`, decoded.
        var name: String
        var isCollection: Bool
        var size: Int64
        /// `getlastmodified`, Unix milliseconds; nil when the server did not give it.
        var lastModified: Int64?
    }

    /// Parses a multistatus body; nil when it is not one. An entry whose properties all failed (no `200` propstat)
    /// keeps its name with no size or time.
    static func parse(_ data: Data) -> [Entry]? {
        guard let root = XMLTree.parse(data), root.name == "multistatus" else { return nil }
        var out: [Entry] = []
        for response in root.all("response") {
            guard let href = response.string("href"), let name = WebDAVPath.lastSegment(ofHref: href) else { continue }
            var entry = Entry(name: name, isCollection: false, size: 0, lastModified: nil)
            for propstat in response.all("propstat") {
                // `HTTP/1.1 200 OK`; a missing status is taken as success.
                if let status = propstat.string("status"), !status.contains(" 200") { continue }
                guard let prop = propstat.child("prop") else { continue }
                if let type = prop.child("resourcetype"), type.child("collection") != nil { entry.isCollection = true }
                if let length = prop.string("getcontentlength").flatMap({ Int64($0.trimmingCharacters(in: .whitespaces)) }) {
                    entry.size = length
                }
                if let modified = prop.string("getlastmodified").flatMap(HTTPDate.parse) {
                    entry.lastModified = modified
                }
            }
            out.append(entry)
        }
        return out
    }

    /// The PROPFIND body asking for the three properties the listing reads.
    static let requestBody = Data(
        ("<?xml version=\"1.0\" encoding=\"utf-8\"?><D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/>"
            + "<D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>").utf8)
}

/// HTTP dates (RFC 9110 §5.6.7), as `getlastmodified` carries them.
enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Unix milliseconds of `Sun, 06 Nov 1994 08:49:37 GMT` (the preferred form), or of the obsolete RFC 850
    /// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) forms; nil otherwise.
    static func parse(_ s: String) -> Int64? {
        let words = s.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        var day: Int?, month: Int?, year: Int?, time: [Int]?
        if words.count == 5, let m = Self.month(words[1]) {  // asctime: Sun Nov 6 08:49:37 1994
            day = Int(words[2])
            month = m
            year = Int(words[4])
            time = clock(words[3])
        } else if words.count >= 4 {
            let date = words[1].split(separator: "-")
            if date.count == 3 {  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
                year = Int(date[2]).map { $0 < 70 ? 2000 + $0 : ($0 < 100 ? 1900 + $0 : $0) }
                day = Int(date[0])
                month = Self.month(String(date[1]))
                time = clock(words[2])
            } else if words.count >= 5 {  // Sun, 06 Nov 1994 08:49:37 GMT
                day = Int(words[1])
                month = Self.month(words[2])
                year = Int(words[3])
                time = clock(words[4])
            }
        }
        guard let day, let month, let year, let time, (1...31).contains(day) else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return ((days * 86_400) + Int64(time[0] * 3600 + time[1] * 60 + time[2])) * 1000
    }

    private static func month(_ s: String) -> Int? { months.firstIndex(of: s.lowercased()).map { $0 + 1 } }

    private static func clock(_ s: String) -> [Int]? {
        let parts = s.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 3, parts[0] < 24, parts[1] < 60, parts[2] <= 60 else { return nil }
        return parts
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
