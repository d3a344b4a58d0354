package import Foundation

/// A small XML reader for response bodies.
package enum XMLTree {
    /// A minimal element tree, enough for the small documents of S3 and WebDAV. Names are local names (any
    /// namespace prefix dropped).
    package final class Node {
        package let name: String
        package var text = ""
        package var children: [Node] = []
        package init(name: String) { self.name = name }

        package func child(_ name: String) -> Node? { children.first { $0.name == name } }
        package func all(_ name: String) -> [Node] { children.filter { $0.name == name } }
        package func string(_ name: String) -> String? { child(name)?.text }
    }

    /// Parses a document into a tree; nil when it is not well-formed XML.
    ///
    /// Our own small reader, not FoundationXML's `XMLParser`: that one loads libxml2 and the system's ICU into
    /// every process at start-up (resident memory and relocations), for a few small response shapes.
    /// It reads what S3-compatible and WebDAV servers send: a declaration, comments, processing
    /// instructions, a DOCTYPE without an internal subset, elements with attributes (ignored), the predefined and
    /// numeric character references, CDATA. An element's `text` is all character data directly inside it.
    package static func parse(_ data: Data) -> Node? {
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
}
