import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 for S3 behaviours moto does not have (auth errors, redirects, clock skew,
/// bodies cut mid-transfer): each request gets the response `respond` scripts for it, then the connection is
/// closed. Plain POSIX sockets, one thread per connection.
final class CannedHTTPServer: Sendable {
    struct Request: Sendable {
        var method: String
        var target: String
        /// Names lower-cased.
        var headers: [String: String]
        var body: [UInt8]
    }

    struct Response: Sendable {
        var status: Int
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        /// Close the connection after this many body bytes (Content-Length still announces them all).
        var cutAfter: Int?

        init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], cutAfter: Int? = nil) {
            self.status = status
            self.headers = headers
            self.body = body
            self.cutAfter = cutAfter
        }

        /// An S3 `<Error>` body.
        static func s3Error(
            _ status: Int, code: String, message: String, extra: String = "", headers: [(String, String)] = []
        ) -> Response {
            let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>\(code)</Code><Message>\(message)"
                + "</Message>\(extra)<RequestId>4442587FB7D0A2F9</RequestId><HostId>h</HostId></Error>"
            return Response(
                status: status, headers: [("Content-Type", "application/xml")] + headers, body: Array(xml.utf8))
        }
    }

    let port: Int
    private let listener: Int32
    private let respond: @Sendable (Request, Int) -> Response
    private let log = Mutex<[Request]>([])

    /// The requests received so far, in order.
    var requests: [Request] { log.withLock { $0 } }

    /// `respond(request, index)`: index counts requests from 0.
    init(respond: @escaping @Sendable (Request, Int) -> Response) throws {
        self.respond = respond
        let (fd, port) = try TestEnvironment.boundLoopbackSocket(reuseAddress: true)
        guard listen(fd, 64) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        self.listener = fd
        self.port = port
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Stops accepting connections. The accept loop closes the socket when it sees the shutdown: closing it
    /// here let a parallel test's new socket take the same descriptor number while the loop could still call
    /// `accept` on it, stealing that test's connections and answering them with this server's response.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while true {
            let conn = accept(listener, nil, nil)
            if conn < 0 {
                if errno == EINTR { continue }
                close(listener)
                return
            }
            let thread = Thread { [self] in serve(conn) }
            thread.start()
        }
    }

    private func serve(_ conn: Int32) {
        defer { close(conn) }
        guard let request = readRequest(conn) else { return }
        let index = log.withLock {
            $0.append(request)
            return $0.count - 1
        }
        let r = respond(request, index)
        var head = "HTTP/1.1 \(r.status) Canned\r\n"
        var names = Set<String>()
        for (name, value) in r.headers {
            head += "\(name): \(value)\r\n"
            names.insert(name.lowercased())
        }
        if !names.contains("content-length") { head += "Content-Length: \(r.body.count)\r\n" }
        head += "Connection: close\r\n\r\n"
        guard writeAll(conn, Array(head.utf8)) else { return }
        if request.method == "HEAD" { return }
        let body = r.cutAfter.map { Array(r.body.prefix($0)) } ?? r.body
        _ = writeAll(conn, body)
        if r.cutAfter != nil {
            // A reset rather than an orderly close, as a dropped connection looks.
            var l = linger(l_onoff: 1, l_linger: 0)
            setsockopt(conn, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    private func readRequest(_ fd: Int32) -> Request? {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        let separator = Array("\r\n\r\n".utf8)
        var headerEnd: Int?
        while headerEnd == nil {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            data += buf[0..<n]
            if data.count >= 4 {
                for i in max(0, data.count - n - 3)...(data.count - 4) where Array(data[i..<i + 4]) == separator {
                    headerEnd = i
                    break
                }
            }
        }
        let lines = String(decoding: data[0..<headerEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let first = lines[0].split(separator: " ")
        guard first.count >= 2 else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(data[(headerEnd! + 4)...])
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while body.count < length {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            body += buf[0..<n]
        }
        return Request(method: String(first[0]), target: String(first[1]), headers: headers, body: body)
    }
}
