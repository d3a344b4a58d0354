import Foundation

/// Parsers for the few S3 XML response bodies the client reads, and the two request bodies it sends.
///
/// Element names are matched by local name, so a namespace prefix or the S3 default namespace does not matter.
enum S3XML {
    /// One object of a ListObjectsV2 page.
    struct ListedObject: Sendable, Equatable {
        var key: String
        var size: Int64
        var lastModified: Date?
        var etag: String?
    }

    /// A ListObjectsV2 page.
    struct ListPage: Sendable, Equatable {
        var objects: [ListedObject] = []
        var isTruncated = false
        var nextContinuationToken: String?
        var commonPrefixes: [String] = []
    }

    /// An `<Error>` body.
    struct ErrorBody: Sendable, Equatable {
        var code: String
        var message: String
        var region: String?
        var requestID: String?
        /// `<Endpoint>` of a `PermanentRedirect` (the host to use, which names the region on AWS).
        var endpoint: String? = nil
    }

    /// A DeleteObjects result: the keys that could not be deleted.
    struct DeleteResult: Sendable, Equatable {
        var deleted: [String] = []
        var errors: [(key: String, code: String, message: String)] = []

        static func == (a: Self, b: Self) -> Bool {
            a.deleted == b.deleted && a.errors.map { [$0.key, $0.code, $0.message] } == b.errors.map { [$0.key, $0.code, $0.message] }
        }
    }

    struct Malformed: Error, CustomStringConvertible {
        var what: String
        var description: String { "malformed S3 response: \(what)" }
    }

    // MARK: - Generic tree

    /// A minimal element tree, enough for S3's small documents.
    final class Node {
        let name: String
        var text = ""
        var children: [Node] = []
        init(name: String) { self.name = name }

        func child(_ name: String) -> Node? { children.first { $0.name == name } }
        func all(_ name: String) -> [Node] { children.filter { $0.name == name } }
        func string(_ name: String) -> String? { child(name)?.text }
    }

    /// Parses a document into a tree; nil when it is not well-formed XML.
    ///
    /// Our own small reader, not FoundationXML's `XMLParser`: that one loads libxml2 and the system's ICU into
    /// every process at start-up (resident memory and relocations), S3 or not, for five small
    /// response shapes. It reads what S3-compatible servers send: a declaration, comments, processing
    /// instructions, a DOCTYPE without an internal subset, elements with attributes (ignored), the predefined and
    /// numeric character references, CDATA. An element's `text` is all character data directly inside it.
    static func parse(_ data: Data) -> Node? {
        guard !data.isEmpty else { return nil }
        var reader = Reader(bytes: [UInt8](data))
        return reader.document()
    }

    private struct Reader {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }  // a UTF-8 byte order mark
        }

        mutating func document() -> Node? {
            var root: Node?
            var open: [(node: Node, name: ArraySlice<UInt8>)] = []
            while i < bytes.count {
                guard bytes[i] == UInt8(ascii: "<") else {
                    let end = bytes[i...].firstIndex(of: UInt8(ascii: "<")) ?? bytes.endIndex
                    if let top = open.last {
                        guard let text = Self.decodeText(bytes[i..<end]) else { return nil }
                        top.node.text += text
                    } else if !bytes[i..<end].allSatisfy(Self.isSpace) {
                        return nil  // text outside the root element
                    }
                    i = end
                    continue
                }
                if let closed = skip(over: "<?", to: "?>") ?? skip(over: "<!--", to: "-->") {
                    guard closed else { return nil }
                    continue
                }
                if starts(with: "<![CDATA[") {
                    let start = i + 9
                    guard let top = open.last, let end = find("]]>", from: start) else { return nil }
                    top.node.text += String(decoding: bytes[start..<end], as: UTF8.self)
                    i = end + 3
                    continue
                }
                if starts(with: "<!") {  // DOCTYPE, before the root
                    guard root == nil, skip(over: "<!", to: ">") == true else { return nil }
                    continue
                }
                if starts(with: "</") {
                    i += 2
                    guard let name = name(), let top = open.popLast(), top.name == name else { return nil }
                    skipSpace()
                    guard expect(">") else { return nil }
                    continue
                }
                i += 1
                guard let name = name(), root == nil || !open.isEmpty else { return nil }
                guard let selfClosing = attributes() else { return nil }
                let local = name.lastIndex(of: UInt8(ascii: ":")).map { name[($0 + 1)...] } ?? name
                let node = Node(name: String(decoding: local, as: UTF8.self))
                open.last?.node.children.append(node)
                if root == nil { root = node }
                if !selfClosing { open.append((node, name)) }
            }
            return open.isEmpty ? root : nil
        }

        /// Skips attributes up to the end of a start tag; whether the tag closed itself, nil if malformed.
        private mutating func attributes() -> Bool? {
            while true {
                skipSpace()
                if expect(">") { return false }
                if expect("/>") { return true }
                guard name() != nil else { return nil }
                skipSpace()
                guard expect("=") else { return nil }
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "'"),
                    let close = bytes[(i + 1)...].firstIndex(of: bytes[i])
                else { return nil }
                i = close + 1
            }
        }

        private mutating func name() -> ArraySlice<UInt8>? {
            let start = i
            while i < bytes.count, !Self.isSpace(bytes[i]), !"/>=<\"'&".utf8.contains(bytes[i]) { i += 1 }
            return i > start ? bytes[start..<i] : nil
        }

        private func starts(with s: String) -> Bool { bytes[i...].starts(with: s.utf8) }

        private mutating func expect(_ s: String) -> Bool {
            guard starts(with: s) else { return false }
            i += s.utf8.count
            return true
        }

        private func find(_ s: String, from start: Int) -> Int? {
            bytes[start...].firstRange(of: Array(s.utf8))?.lowerBound
        }

        /// Skips `open … close` when the input is at `open`: nil when it is not, false when `close` never comes.
        private mutating func skip(over open: String, to close: String) -> Bool? {
            guard starts(with: open) else { return nil }
            guard let end = find(close, from: i + open.utf8.count) else { return false }
            i = end + close.utf8.count
            return true
        }

        private mutating func skipSpace() { while i < bytes.count, Self.isSpace(bytes[i]) { i += 1 } }

        private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

        /// Character data with its references resolved; nil for an unknown or unterminated reference.
        private static func decodeText(_ raw: ArraySlice<UInt8>) -> String? {
            guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
            var out: [UInt8] = []
            var j = raw.startIndex
            while j < raw.endIndex {
                guard raw[j] == UInt8(ascii: "&") else {
                    out.append(raw[j])
                    j += 1
                    continue
                }
                guard let semi = raw[j...].firstIndex(of: UInt8(ascii: ";")) else { return nil }
                let entity = String(decoding: raw[(j + 1)..<semi], as: UTF8.self)
                switch entity {
                case "amp": out.append(UInt8(ascii: "&"))
                case "lt": out.append(UInt8(ascii: "<"))
                case "gt": out.append(UInt8(ascii: ">"))
                case "quot": out.append(UInt8(ascii: "\""))
                case "apos": out.append(UInt8(ascii: "'"))
                default:
                    let value: UInt32?
                    if entity.hasPrefix("#x") {
                        value = UInt32(entity.dropFirst(2), radix: 16)
                    } else if entity.hasPrefix("#") {
                        value = UInt32(entity.dropFirst(), radix: 10)
                    } else {
                        value = nil
                    }
                    guard let value, let scalar = Unicode.Scalar(value) else { return nil }
                    out.append(contentsOf: String(Character(scalar)).utf8)
                }
                j = semi + 1
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    // MARK: - Shapes

    /// The `<Error>` in a body, if the body is one (also for a 200 response that carries an error).
    static func parseError(_ data: Data) -> ErrorBody? {
        guard let root = parse(data), root.name == "Error" else { return nil }
        return ErrorBody(
            code: root.string("Code") ?? "", message: root.string("Message") ?? "",
            region: root.string("Region"), requestID: root.string("RequestId"), endpoint: root.string("Endpoint"))
    }

    /// A ListObjectsV2 result. With `urlEncoded` (the request sent `encoding-type=url`) keys, prefixes and
    /// `StartAfter` are percent-decoded.
    static func parseListObjectsV2(_ data: Data) throws -> ListPage {
        guard let root = parse(data), root.name == "ListBucketResult" else { throw Malformed(what: "ListObjectsV2") }
        let urlEncoded = root.string("EncodingType")?.lowercased() == "url"
        func decode(_ s: String) -> String { urlEncoded ? (percentDecode(s) ?? s) : s }
        var page = ListPage()
        page.isTruncated = root.string("IsTruncated")?.lowercased() == "true"
        page.nextContinuationToken = root.string("NextContinuationToken")
        for c in root.all("Contents") {
            guard let key = c.string("Key") else { throw Malformed(what: "ListObjectsV2 Contents without Key") }
            page.objects.append(ListedObject(
                key: decode(key), size: Int64(c.string("Size") ?? "") ?? 0,
                lastModified: c.string("LastModified").flatMap(parseISO8601),
                etag: c.string("ETag")))
        }
        for p in root.all("CommonPrefixes") {
            if let prefix = p.string("Prefix") { page.commonPrefixes.append(decode(prefix)) }
        }
        return page
    }

    /// The upload ID of an InitiateMultipartUpload result.
    static func parseInitiateMultipartUpload(_ data: Data) throws -> String {
        guard let root = parse(data), root.name == "InitiateMultipartUploadResult",
            let id = root.string("UploadId"), !id.isEmpty
        else { throw Malformed(what: "InitiateMultipartUpload") }
        return id
    }

    /// The ETag of a CompleteMultipartUpload result (errors in a 200 body are found by ``parseError(_:)``).
    static func parseCompleteMultipartUpload(_ data: Data) throws -> String? {
        guard let root = parse(data), root.name == "CompleteMultipartUploadResult" else {
            throw Malformed(what: "CompleteMultipartUpload")
        }
        return root.string("ETag")
    }

    /// The uploads of a ListMultipartUploads result: `(key, uploadID)`.
    static func parseListMultipartUploads(_ data: Data) throws -> [(key: String, uploadID: String)] {
        guard let root = parse(data), root.name == "ListMultipartUploadsResult" else {
            throw Malformed(what: "ListMultipartUploads")
        }
        return root.all("Upload").map { ($0.string("Key") ?? "", $0.string("UploadId") ?? "") }
    }

    static func parseDeleteResult(_ data: Data) throws -> DeleteResult {
        guard let root = parse(data), root.name == "DeleteResult" else { throw Malformed(what: "DeleteObjects") }
        var r = DeleteResult()
        for d in root.all("Deleted") { if let k = d.string("Key") { r.deleted.append(k) } }
        for e in root.all("Error") {
            r.errors.append((e.string("Key") ?? "", e.string("Code") ?? "", e.string("Message") ?? ""))
        }
        return r
    }

    // MARK: - Request bodies

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func completeMultipartUploadBody(parts: [(number: Int, etag: String)]) -> Data {
        var s = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for p in parts.sorted(by: { $0.number < $1.number }) {
            s += "<Part><PartNumber>\(p.number)</PartNumber><ETag>\(escape(p.etag))</ETag></Part>"
        }
        s += "</CompleteMultipartUpload>"
        return Data(s.utf8)
    }

    static func deleteObjectsBody(keys: [String]) -> Data {
        var s = "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
        for k in keys { s += "<Object><Key>\(escape(k))</Key></Object>" }
        s += "</Delete>"
        return Data(s.utf8)
    }

    // MARK: - Helpers

    /// Decodes `%XX` escapes (and nothing else: `+` stays `+`, as S3 encodes a space as `%20`).
    static func percentDecode(_ s: String) -> String? {
        guard s.contains("%") else { return s }
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else {
                    return nil
                }
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(bytes: bytes, encoding: .utf8)
    }

    /// `2026-11-27T04:12:53.217Z` or without fractional seconds.
    static func parseISO8601(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }
}
