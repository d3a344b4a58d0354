import Crypto
public import Foundation
import LitestreamHTTP

/// Azure Storage Shared Key authorization (`Authorization: SharedKey <account>:<signature>`): the base64
/// HMAC-SHA256, keyed with the decoded account key, of the canonicalized string-to-sign.
///
/// The caller encodes the request's path once and passes the same string here and on the wire: the canonicalized
/// resource is `/<account><encoded path>`, as the service (and azure-storage-blob) build it from the URL.
public struct ABSSigner: Sendable {
    public let accountName: String
    private let key: SymmetricKey

    /// - Throws: ``ABSConfiguration/Invalid`` when the key is not base64 (it never appears in the message).
    public init(accountName: String, accountKey: String) throws {
        guard let data = Data(base64Encoded: accountKey.trimmingCharacters(in: .whitespacesAndNewlines)), !data.isEmpty else {
            throw ABSConfiguration.Invalid(
                description: "account-key of storage account \(accountName) is not base64 (copy key1 or key2 from "
                    + "the storage account's Access keys)")
        }
        self.accountName = accountName
        self.key = SymmetricKey(data: data)
    }

    /// The standard headers whose values stand, in this order, each on its own line of the string-to-sign.
    static let standardHeaders = [
        "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
        "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
    ]

    /// The string-to-sign and the `Authorization` value.
    public struct Signed: Sendable {
        public var stringToSign: String
        public var authorization: String
    }

    /// Signs a request.
    ///
    /// - Parameters:
    ///   - method: `GET`, `PUT`, ….
    ///   - encodedPath: the URL's path as sent (`/container/blob%20name`, or `/account/container/…` on an emulator).
    ///   - query: the query parameters, unencoded.
    ///   - headers: the headers sent, `x-ms-date` and `x-ms-version` among them (names in any case).
    public func sign(
        method: String, encodedPath: String, query: [(name: String, value: String)],
        headers: [(name: String, value: String)]
    ) -> Signed {
        var standard: [String: String] = [:]
        var msHeaders: [(String, String)] = []
        for (name, value) in headers {
            let n = name.lowercased()
            if n.hasPrefix("x-ms-") {
                msHeaders.append((n, value))
            } else if !value.isEmpty {
                standard[n] = value
            }
        }
        // A zero length is written as an empty line (service version 2015-02-21 and later).
        if standard["content-length"] == "0" { standard["content-length"] = nil }

        var s = method + "\n"
        for name in Self.standardHeaders { s += (standard[name] ?? "") + "\n" }
        for (name, value) in msHeaders.sorted(by: { Self.headerOrder($0.0, $1.0) }) { s += "\(name):\(value)\n" }
        s += "/\(accountName)\(encodedPath)"
        var byName: [String: [String]] = [:]
        for (name, value) in query { byName[name.lowercased(), default: []].append(value) }
        for name in byName.keys.sorted() { s += "\n\(name):" + byName[name]!.sorted().joined(separator: ",") }

        let mac = HMAC<SHA256>.authenticationCode(for: Data(s.utf8), using: key)
        return Signed(stringToSign: s, authorization: "SharedKey \(accountName):\(Data(mac).base64EncodedString())")
    }

    /// The order in which the service sorts `x-ms-*` names: hyphens (and apostrophes) count only to break ties,
    /// digits before letters. Names that differ only in hyphens fall back to byte order.
    static func headerOrder(_ a: String, _ b: String) -> Bool {
        func weights(_ s: String) -> [UInt8] { s.utf8.filter { $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: "'") } }
        let (wa, wb) = (weights(a), weights(b))
        return wa != wb ? wa.lexicographicallyPrecedes(wb) : a < b
    }

    /// `x-ms-date`'s value: RFC 1123 in GMT.
    public static func httpDate(_ date: Date) -> String {
        var t = time_t(Int(date.timeIntervalSince1970.rounded(.down)))
        var tm = tm()
        gmtime_r(&t, &tm)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return days[Int(tm.tm_wday)] + String(format: ", %02d ", Int(tm.tm_mday)) + months[Int(tm.tm_mon)]
            + String(format: " %04d %02d:%02d:%02d GMT", Int(tm.tm_year) + 1900, Int(tm.tm_hour), Int(tm.tm_min),
                Int(tm.tm_sec))
    }
}

extension ABSSigner: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The account name; never the key.
    public var description: String { "ABSSigner(account: \(accountName), key: <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["accountName": accountName]) }
}
