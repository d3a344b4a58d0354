import Foundation


/// Litestream's timestamp metadata (`litestream-timestamp` on S3 and OSS, `litestreamtimestamp` on Azure): Go's
/// RFC3339Nano in UTC (`2026-11-27T04:12:53.217Z`, trailing zeros of the fraction dropped).
package enum RFC3339Timestamp {
    package static func format(milliseconds ms: Int64) -> String {
        var seconds = time_t(ms / 1000)
        var fraction = Int(ms % 1000)
        if fraction < 0 {
            fraction += 1000
            seconds -= 1
        }
        var tm = tm()
        gmtime_r(&seconds, &tm)
        var s = String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
            Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
        if fraction != 0 {
            var f = String(format: "%03d", fraction)
            while f.hasSuffix("0") { f.removeLast() }
            s += "." + f
        }
        return s + "Z"
    }

    /// RFC 3339 with any number of fraction digits and a `Z` or `±hh:mm` offset, to Unix milliseconds.
    package static func parse(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        func num(_ i: Int, _ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for c in b[i..<(i + n)] {
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard b.count >= 20, let year = num(0, 4), b[4] == 45, let month = num(5, 2), b[7] == 45,
            let day = num(8, 2), b[10] == 84 || b[10] == 116, let hour = num(11, 2), b[13] == 58,
            let minute = num(14, 2), b[16] == 58, let second = num(17, 2)
        else { return nil }
        var i = 19
        var millis = 0
        if i < b.count, b[i] == 46 {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if digits < 3 { millis = millis * 10 + Int(b[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { millis *= 10 }
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45, let oh = num(i + 1, 2), b.count > i + 3, b[i + 3] == 58,
            let om = num(i + 4, 2)
        {
            offset = (oh * 60 + om) * 60 * (b[i] == 43 ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        var tm = tm()
        tm.tm_year = Int32(year - 1900)
        tm.tm_mon = Int32(month - 1)
        tm.tm_mday = Int32(day)
        tm.tm_hour = Int32(hour)
        tm.tm_min = Int32(minute)
        tm.tm_sec = Int32(second)
        let t = Int64(timegm(&tm)) - Int64(offset)
        return t * 1000 + Int64(millis)
    }
}
