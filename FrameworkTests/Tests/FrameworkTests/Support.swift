import Foundation
import Synchronization
import Testing

/// Where the tests find what they run, and the S3 server.
enum Env {
    static let environment = ProcessInfo.processInfo.environment

    /// This repository (FrameworkTests/Tests/FrameworkTests/Support.swift is three levels down).
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The S3 server of scripts/test.sh (moto).
    static func s3Endpoint() throws -> String {
        guard let endpoint = environment["LITESTREAM_S3_ENDPOINT"], !endpoint.isEmpty else {
            throw Failure("LITESTREAM_S3_ENDPOINT is not set: run the tests with scripts/test.sh")
        }
        return endpoint
    }

    /// The directory of the built products (`swift build` puts the fixture apps and `litestream` there, beside
    /// the test bundle).
    static var binDirectory: URL {
        if let dir = environment["FRAMEWORK_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // On macOS the test bundle's executable is inside FrameworkTestsPackageTests.xctest/Contents/MacOS.
        while dir.path.contains(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir
    }

    static func product(_ name: String) throws -> String {
        let path = binDirectory.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Failure("\(path) is missing: `swift build --package-path FrameworkTests` and "
                + "`swift build --package-path FrameworkTests --product litestream` first")
        }
        return path
    }

    static var litestream: String { get throws { try product("litestream") } }

    /// moto_server from the venv of scripts/test.sh (beside the reference litestream), for a private S3 server
    /// that a test can stop.
    static func motoServer() throws -> String {
        if let path = environment["MOTO_SERVER"] { return path }
        if let bin = environment["LITESTREAM_BIN"] {
            let path = URL(fileURLWithPath: bin).deletingLastPathComponent().appendingPathComponent("moto_server").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw Failure("moto_server not found (set MOTO_SERVER or LITESTREAM_BIN)")
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A directory removed at the end of the test.
final class TemporaryDirectory {
    let url: URL
    var path: String { url.path }

    init() throws {
        // Short: the control socket's path must fit in sockaddr_un (108 bytes).
        url = URL(fileURLWithPath: "/tmp/fw-\(UUID().uuidString.prefix(8).lowercased())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A process run to completion.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `executable` with `arguments` and waits, collecting stdout and stderr (through files: no pipe to fill).
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
         directory: String? = nil, timeout: Duration = .seconds(120)) throws -> CommandResult {
    let dir = try TemporaryDirectory()
    let out = dir.file("stdout"), err = dir.file("stderr")
    FileManager.default.createFile(atPath: out, contents: nil)
    FileManager.default.createFile(atPath: err, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = Env.environment.merging(environment) { $1 }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now > deadline {
            process.terminate()
            throw Failure("\(executable) \(arguments) did not finish within \(timeout)")
        }
        Thread.sleep(forTimeInterval: 0.02)
    }
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus,
                         stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
}

/// A free TCP port on loopback (bound, then released: the app binds it a moment later).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw Failure("socket: \(errno)") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw Failure("bind: \(errno)") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// An HTTP answer.
struct HTTPResult {
    var status: Int
    var body: String
}

/// HTTP through curl: plain, and the same client for every test.
func http(_ url: String, method: String = "GET", json: String? = nil, user: String? = nil,
          timeout: Int = 30) throws -> HTTPResult {
    let dir = try TemporaryDirectory()
    let bodyFile = dir.file("body")
    var args = ["-s", "-S", "-o", bodyFile, "-w", "%{http_code}", "-X", method, "--max-time", String(timeout)]
    if let json { args += ["-H", "Content-Type: application/json", "--data-binary", json] }
    if let user { args += ["-u", user] }
    args.append(url)
    let result = try run("/usr/bin/env", ["curl"] + args)
    let body = (try? String(contentsOfFile: bodyFile, encoding: .utf8)) ?? ""
    return HTTPResult(status: Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, body: body)
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(_ what: String, timeout: Duration = .seconds(60), interval: Duration = .milliseconds(200),
                _ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if (try? condition()) == true { return }
        if ContinuousClock.now > deadline { throw Failure("timed out after \(timeout) waiting for \(what)") }
        Thread.sleep(forTimeInterval: Double(interval.components.attoseconds) / 1e18 + Double(interval.components.seconds))
    }
}

/// A bucket of its own on the S3 server (moto accepts an unsigned `PUT /bucket`).
func makeBucket(endpoint: String, prefix: String = "fw") throws -> String {
    let bucket = "\(prefix)-\(UUID().uuidString.lowercased().prefix(13))"
    let result = try http("\(endpoint)/\(bucket)", method: "PUT")
    guard result.status == 200 else { throw Failure("PUT bucket: HTTP \(result.status) \(result.body)") }
    return bucket
}

func replicaURL(endpoint: String, bucket: String, path: String) -> String {
    "s3://\(bucket)/\(path)?endpoint=\(endpoint)&region=us-east-1&force-path-style=true"
}

/// Rows of `sql` from the sqlite3 command-line shell, one string per row.
func sqlite(_ database: String, _ sql: String) throws -> [String] {
    let result = try run("/usr/bin/env", ["sqlite3", database, sql])
    guard result.status == 0 else { throw Failure("sqlite3 \(database) \(sql): \(result.stderr)") }
    return result.stdout.split(separator: "\n").map(String.init)
}
