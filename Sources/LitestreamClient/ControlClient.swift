import Foundation
import LTX


/// A client of the control socket (what `litestream info`, `list`, `sync`, `status`… use): one HTTP/1.1 request
/// per connection over the Unix socket, blocking I/O on a thread of its own so that no task thread waits.
public struct ControlClient: Sendable {
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// Nobody answers at the socket path (no server, wrong path, no permission).
        case unreachable(path: String, reason: String)
        /// The server answered with an error status and `{"error": …}`.
        case server(status: Int, message: String)
        /// The answer was not the expected JSON.
        case invalidResponse(String)

        public var description: String {
            switch self {
            case .unreachable(let path, let reason): "cannot reach control socket \(path): \(reason)"
            case .server(_, let message): message
            case .invalidResponse(let s): "invalid response from control socket: \(s)"
            }
        }
    }

    public var socketPath: String
    /// How long one request may take on top of any server-side wait (`sync -timeout`).
    public var timeout: Duration

    /// - Parameters:
    ///   - socketPath: the `socket.path` of the server's configuration.
    ///   - timeout: how long one request may take on top of a server-side wait.
    public init(socketPath: String = "/var/run/litestream.sock", timeout: Duration = .seconds(10)) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// An absolute database path as the server keys it, resolved against this process's working directory.
    public static func absolutePath(_ path: String) -> String { LitestreamClient.absolutePath(path) }

    /// The server's version, pid, start time, configuration and socket paths, and how many databases it knows.
    public func info() async throws -> ControlInfo { try await request("GET", "/info") }

    /// Every database the server knows, running or stopped.
    public func list() async throws -> [ReplicationStatus] { try await request("GET", "/list") }

    /// One database's status: TXIDs, lag and errors per replica.
    ///
    /// - Parameter path: the database path, relative paths against this process's working directory.
    /// - Throws: ``Failure/server(status:message:)`` with status 404 when the server does not know the database.
    public func status(path: String) async throws -> ReplicationStatus {
        try await request("GET", "/status", ["path": Self.absolutePath(path)])
    }

    /// Syncs one database (or, with a nil path, every running one); with `wait`, returns only once every replica
    /// holds the result: put it after a commit that must not be lost.
    ///
    /// - Parameters:
    ///   - path: the database, or nil for every running one.
    ///   - wait: wait until every replica holds the synced TXID.
    ///   - timeout: how long the server may wait for the replicas.
    /// - Returns: the TXID each database reached.
    /// - Throws: ``Failure/server(status:message:)`` when the replicas do not have it in time.
    public func sync(path: String?, wait: Bool = false, timeout: Duration = .seconds(30)) async throws -> [ControlSyncResult] {
        var query = ["wait": wait ? "true" : "false", "timeout": "\(Double(timeout.wholeMilliseconds) / 1000)"]
        if let path {
            query["path"] = Self.absolutePath(path)
            let one: ControlSyncResult = try await request("POST", "/sync", query, extraTime: timeout)
            return [one]
        }
        return try await request("POST", "/sync", query, extraTime: timeout)
    }

    public func start(path: String) async throws -> ControlActionResult {
        try await request("POST", "/start", ["path": Self.absolutePath(path)])
    }

    public func stop(path: String) async throws -> ControlActionResult {
        try await request("POST", "/stop", ["path": Self.absolutePath(path)], extraTime: .seconds(30))
    }

    public func register(path: String, replica: String?) async throws -> ControlActionResult {
        let body = try JSONEncoder().encode(ControlRegisterRequest(path: Self.absolutePath(path), replica: replica))
        return try await request("POST", "/register", [:], body: Array(body))
    }

    public func unregister(path: String) async throws -> ControlActionResult {
        try await request("POST", "/unregister", ["path": Self.absolutePath(path)], extraTime: .seconds(30))
    }

    // MARK: transport

    private func request<T: Decodable>(_ method: String, _ route: String, _ query: [String: String] = [:],
                                       body: [UInt8] = [], extraTime: Duration = .zero) async throws -> T {
        let (status, payload) = try await raw(method, route, query, body: body, extraTime: extraTime)
        guard (200..<300).contains(status) else {
            let message = (try? JSONDecoder().decode(ControlErrorBody.self, from: Data(payload)))?.error
                ?? String(decoding: payload, as: UTF8.self)
            throw Failure.server(status: status, message: message)
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(payload))
        } catch {
            throw Failure.invalidResponse("\(error)")
        }
    }

    /// One request; the status code and body.
    public func raw(_ method: String, _ route: String, _ query: [String: String] = [:], body: [UInt8] = [],
                    extraTime: Duration = .zero) async throws -> (Int, [UInt8]) {
        var target = route
        if !query.isEmpty {
            target += "?" + query.sorted { $0.key < $1.key }.map { "\(Self.escape($0.key))=\(Self.escape($0.value))" }
                .joined(separator: "&")
        }
        var request = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        request += "Content-Length: \(body.count)\r\n"
        if !body.isEmpty { request += "Content-Type: application/json\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8) + body
        let path = socketPath
        let limit = timeout + extraTime
        // A thread per request: requests are rare (a command, a health check) and may wait minutes (`sync -wait`).
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try Self.exchange(socketPath: path, request: bytes, timeout: limit) })
            }
        }
    }

    private static func escape(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// Whether something accepts connections at `socketPath` (a stale socket file refuses them).
    package static func isListening(socketPath: String) -> Bool {
        guard let fd = try? openConnection(socketPath) else { return false }
        close(fd)
        return true
    }

    private static func openConnection(_ path: String) throws -> Int32 {
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure.unreachable(path: path, reason: String(cString: strerror(errno))) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let utf8 = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard utf8.count < capacity else {
            close(fd)
            throw Failure.unreachable(path: path, reason: "socket path too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: utf8)
            raw[utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure.unreachable(path: path, reason: reason)
        }
        return fd
    }

    #if canImport(Glibc)
    private static let noSignal = Int32(MSG_NOSIGNAL)
    #else
    private static let noSignal: Int32 = 0
    #endif

    private static func exchange(socketPath: String, request: [UInt8], timeout: Duration) throws -> (Int, [UInt8]) {
        let fd = try openConnection(socketPath)
        defer { close(fd) }
        let seconds = timeout.components.seconds
        var tv = timeval(tv_sec: .init(max(1, seconds)), tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, noSignal) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure.unreachable(path: socketPath, reason: String(cString: strerror(errno)))
            }
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw Failure.unreachable(path: socketPath, reason: "no answer within \(timeout)")
                }
                throw Failure.unreachable(path: socketPath, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            response.append(contentsOf: buffer[..<n])
        }
        return try parse(response)
    }

    /// Status code and body of a `Connection: close` HTTP/1.1 response.
    static func parse(_ response: [UInt8]) throws -> (Int, [UInt8]) {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = response.indices.first(where: { response[$0...].starts(with: separator) }) else {
            throw Failure.invalidResponse("no HTTP header in \(response.count) bytes")
        }
        let header = String(decoding: response[..<end], as: UTF8.self)
        let lines = header.components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw Failure.invalidResponse("bad status line \(lines[0])")
        }
        var body = Array(response[(end + 4)...])
        for line in lines.dropFirst() {
            let kv = line.split(separator: ":", maxSplits: 1)
            if kv.count == 2, kv[0].lowercased() == "content-length",
                let n = Int(kv[1].trimmingCharacters(in: .whitespaces)), n <= body.count
            {
                body = Array(body[..<n])
            }
        }
        return (status, body)
    }
}

