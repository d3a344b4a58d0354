import Foundation
import NIOCore

/// A message delivered by the server (`MSG` or `HMSG`).
struct NATSMessage: Sendable {
    var subject: String
    var sid: Int
    var replyTo: String?
    /// The status of a header block's first line (`NATS/1.0 503` → 503), nil when there is none.
    var status: Int?
    /// The status line's description (`FlowControl Request`, `No Messages`), empty when there is none.
    var statusDescription: String = ""
    /// Header fields, names as sent.
    var headers: [(name: String, value: String)] = []
    var payload: ByteBuffer

    /// The first value of a header, the name compared without case.
    func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// What the server sends: the operations of the NATS client protocol.
enum NATSServerOp: Sendable {
    case info(NATSServerInfo)
    case msg(NATSMessage)
    case ping
    case pong
    case ok
    case err(String)
}

/// The server's `INFO`: the fields the client acts on.
struct NATSServerInfo: Sendable, Decodable, Equatable {
    var serverID: String?
    var version: String?
    var headers: Bool?
    var maxPayload: Int?
    var tlsRequired: Bool?
    var authRequired: Bool?
    var nonce: String?
    var jetstream: Bool?

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id", version, headers, maxPayload = "max_payload", tlsRequired = "tls_required"
        case authRequired = "auth_required", nonce, jetstream
    }
}

/// Splits the byte stream from the server into ``NATSServerOp``s. A control line ends with CRLF; `MSG` and `HMSG`
/// are followed by their payload and another CRLF. Fields are separated by any run of spaces or tabs (the
/// server writes `MSG subj 1  27` for an empty reply subject).
struct NATSFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = NATSServerOp

    /// The longest control line accepted: an INFO with a long list of cluster URLs fits.
    static let maxControlLine = 64 * 1024

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let op = try Self.parse(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(op))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// One operation from the front of `buffer`, consuming it; nil (consuming nothing) when it is not all there.
    static func parse(_ buffer: inout ByteBuffer) throws -> NATSServerOp? {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > maxControlLine { throw NATSError(.protocolViolation, "a control line longer than \(maxControlLine) bytes") }
            return nil
        }
        var lineEnd = lf
        if lineEnd > view.startIndex, view[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
        let line = String(decoding: view[view.startIndex..<lineEnd], as: UTF8.self)
        let lineLength = lf - view.startIndex + 1
        let (verb, rest) = splitVerb(line)
        switch verb.uppercased() {
        case "PING":
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .ping
        case "PONG":
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .pong
        case "+OK":
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .ok
        case "-ERR":
            buffer.moveReaderIndex(forwardBy: lineLength)
            var text = rest.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("'") && text.hasSuffix("'") && text.count >= 2 { text = String(text.dropFirst().dropLast()) }
            return .err(text)
        case "INFO":
            buffer.moveReaderIndex(forwardBy: lineLength)
            do {
                return .info(try JSONDecoder().decode(NATSServerInfo.self, from: Data(rest.utf8)))
            } catch {
                throw NATSError(.protocolViolation, "the server's INFO is not JSON", cause: error)
            }
        case "MSG", "HMSG":
            let hasHeaders = verb.uppercased() == "HMSG"
            let fields = rest.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            // MSG subject sid [reply] size; HMSG subject sid [reply] hdrsize size
            let fixed = hasHeaders ? 4 : 3
            guard fields.count == fixed || fields.count == fixed + 1, let sid = Int(fields[1]),
                let total = Int(fields[fields.count - 1]), total >= 0
            else {
                throw NATSError(.protocolViolation, "malformed \(verb) line: \(line.prefix(200))")
            }
            let headerSize = hasHeaders ? Int(fields[fields.count - 2]) : 0
            guard let headerSize, headerSize >= 0, headerSize <= total else {
                throw NATSError(.protocolViolation, "malformed \(verb) line: \(line.prefix(200))")
            }
            guard buffer.readableBytes >= lineLength + total + 2 else { return nil }
            buffer.moveReaderIndex(forwardBy: lineLength)
            var message = NATSMessage(subject: fields[0], sid: sid, replyTo: fields.count == fixed + 1 ? fields[2] : nil,
                payload: ByteBuffer())
            if headerSize > 0 {
                let block = buffer.readString(length: headerSize) ?? ""
                parseHeaders(block, into: &message)
            }
            message.payload = buffer.readSlice(length: total - headerSize)!
            buffer.moveReaderIndex(forwardBy: 2)  // CRLF
            return .msg(message)
        default:
            throw NATSError(.protocolViolation, "unknown operation from the server: \(line.prefix(200))")
        }
    }

    static func splitVerb(_ line: String) -> (String, String) {
        guard let space = line.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return (line, "") }
        return (String(line[..<space]), String(line[line.index(after: space)...]))
    }

    /// `NATS/1.0[ status[ description]]\r\n(Name: value\r\n)*\r\n`.
    static func parseHeaders(_ block: String, into message: inout NATSMessage) {
        var lines = block.components(separatedBy: "\r\n")
        guard !lines.isEmpty else { return }
        let first = lines.removeFirst()
        let parts = first.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        if parts.count >= 2, let status = Int(parts[1]) {
            message.status = status
            if parts.count == 3 { message.statusDescription = String(parts[2]) }
        }
        for l in lines where !l.isEmpty {
            guard let colon = l.firstIndex(of: ":") else { continue }
            message.headers.append((String(l[..<colon]).trimmingCharacters(in: .whitespaces),
                String(l[l.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
    }
}

/// What the client sends, encoded.
enum NATSClientOp {
    static func connect(_ json: String) -> String { "CONNECT \(json)\r\n" }
    static let ping = "PING\r\n"
    static let pong = "PONG\r\n"
    static func sub(_ subject: String, sid: Int) -> String { "SUB \(subject) \(sid)\r\n" }
    static func unsub(sid: Int) -> String { "UNSUB \(sid)\r\n" }

    /// `PUB subject [reply] size\r\npayload\r\n`, or `HPUB` with a header block when there are headers.
    static func publish(
        subject: String, replyTo: String?, headers: [(String, String)] = [], payload: some Collection<UInt8>,
        into buffer: inout ByteBuffer
    ) {
        let reply = replyTo.map { " " + $0 } ?? ""
        if headers.isEmpty {
            buffer.writeString("PUB \(subject)\(reply) \(payload.count)\r\n")
        } else {
            var block = "NATS/1.0\r\n"
            for (name, value) in headers { block += "\(name): \(value)\r\n" }
            block += "\r\n"
            let headerSize = block.utf8.count
            buffer.writeString("HPUB \(subject)\(reply) \(headerSize) \(headerSize + payload.count)\r\n")
            buffer.writeString(block)
        }
        buffer.writeBytes(payload)
        buffer.writeString("\r\n")
    }
}
