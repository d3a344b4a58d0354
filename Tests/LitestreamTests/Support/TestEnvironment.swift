import Foundation
import LitestreamSpawn

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the tests find their tools and scratch space.
///
/// `scripts/test.sh` sets the environment this reads: `LITESTREAM_BIN` (the reference
/// Litestream 0.5.17 binary), `LITESTREAM_S3_ENDPOINT` (a moto S3 server on loopback),
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_REGION`, and `CI=true` on CI.
enum TestEnvironment {
    /// True on CI (`CI=true`). Tests that would skip for lack of a tool should fail there instead.
    static var isCI: Bool {
        ProcessInfo.processInfo.environment["CI"] == "true"
    }

    /// The repository root, found from this file's path
    /// (`<repo>/Tests/LitestreamTests/Support/TestEnvironment.swift`).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // Support
            .deletingLastPathComponent()  // LitestreamTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // <repo>
    }

    /// The reference Litestream 0.5.17 binary, or nil when there is none.
    ///
    /// `LITESTREAM_BIN` when set (nil if that is not an executable: a wrong setting is not
    /// silently replaced by another binary), else `<repo>/.venv/bin/litestream`, else
    /// `/tmp/venv/bin/litestream`.
    static var litestreamBinary: String? {
        if let path = ProcessInfo.processInfo.environment["LITESTREAM_BIN"], !path.isEmpty {
            return isExecutableFile(path) ? path : nil
        }
        let candidates = [
            repositoryRoot.appendingPathComponent(".venv/bin/litestream").path,
            "/tmp/venv/bin/litestream",
        ]
        return candidates.first(where: isExecutableFile)
    }

    /// The reference binary, or an error saying how to get it. For tests that need it
    /// whatever happens (on CI a missing binary is a failure, not a skip).
    static func requireLitestreamBinary() throws -> String {
        guard let path = litestreamBinary else {
            throw Failure.missingTool(
                "reference litestream binary not found: set LITESTREAM_BIN or run scripts/test.sh")
        }
        return path
    }

    /// The S3 endpoint of the test server (`LITESTREAM_S3_ENDPOINT`, e.g. `http://127.0.0.1:PORT`),
    /// or nil when S3 tests should not run.
    static var s3Endpoint: String? {
        guard let value = ProcessInfo.processInfo.environment["LITESTREAM_S3_ENDPOINT"], !value.isEmpty
        else { return nil }
        return value
    }

    /// A new, empty, uniquely named directory under the system temporary directory.
    /// The caller removes it when done (or leaves it for inspection after a failure).
    static func temporaryDirectory(_ name: String) throws -> URL {
        let safeName = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("litestream-tests-\(safeName)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Our built `litestream` executable (or another of the package's, by name), or nil when it has not been built.
    ///
    /// `LITESTREAM_SWIFT_BIN` when set (for `litestream`), else the build products directory the test
    /// bundle runs from (where `swift test` also puts the executable), else
    /// `<repo>/.build/debug/<name>`.
    static func ourBinary(_ name: String = "litestream") -> URL? {
        let fileManager = FileManager.default
        if name == "litestream", let path = ProcessInfo.processInfo.environment["LITESTREAM_SWIFT_BIN"], !path.isEmpty {
            return isExecutableFile(path) ? URL(fileURLWithPath: path) : nil
        }
        var directories: [URL] = []
        // Linux: the test runner is `<products>/<package>PackageTests.xctest`, an executable.
        if let argument0 = ProcessInfo.processInfo.arguments.first, !argument0.isEmpty {
            let cwd = URL(fileURLWithPath: fileManager.currentDirectoryPath, isDirectory: true)
            directories.append(URL(fileURLWithPath: argument0, relativeTo: cwd).standardizedFileURL
                .deletingLastPathComponent())
        }
        if let executable = Bundle.main.executableURL {
            directories.append(executable.deletingLastPathComponent())
        }
        // macOS: the tests are a `.xctest` bundle inside the products directory.
        for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        directories.append(repositoryRoot.appendingPathComponent(".build/debug", isDirectory: true))
        for directory in directories {
            let candidate = directory.appendingPathComponent(name)
            if isExecutableFile(candidate.path) {
                return candidate.resolvingSymlinksInPath()
            }
        }
        return nil
    }

    /// A test-support failure (a tool is missing, a command timed out or failed).
    enum Failure: Error, CustomStringConvertible {
        case missingTool(String)
        case timedOut(command: String, after: Duration, stdout: String, stderr: String)
        case commandFailed(command: String, status: Int32, stderr: String)

        var description: String {
            switch self {
            case .missingTool(let message):
                return message
            case .timedOut(let command, let after, let stdout, let stderr):
                return "timed out after \(after): \(command)\nstdout:\n\(stdout)\nstderr:\n\(stderr)"
            case .commandFailed(let command, let status, let stderr):
                return "exit status \(status): \(command)\nstderr:\n\(stderr)"
            }
        }
    }

    /// Runs a program to completion and returns its exit status and output.
    ///
    /// - Parameters:
    ///   - executable: an absolute or relative path, or a bare name looked up in `PATH`.
    ///   - environment: variables set on top of this process's environment (nil: inherit as is).
    ///   - input: bytes written to the program's standard input (default: none, stdin is /dev/null).
    ///   - timeout: the program is sent SIGTERM, then SIGKILL, and `Failure.timedOut` is thrown.
    /// - Returns: the exit status (128 + signal number when killed by a signal) and the output.
    @discardableResult
    static func run(
        _ executable: String,
        _ args: [String],
        environment: [String: String]? = nil,
        input: Data? = nil,
        timeout: Duration = .seconds(60)
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try BackgroundProcess(executable, args, environment: environment, input: input)
        return try child.wait(timeout: timeout)
    }

    /// Starts a program that runs until it is stopped, e.g. `litestream replicate`:
    /// `interrupt()` sends SIGINT, `wait(timeout:)` collects the exit status and output.
    static func launch(
        _ executable: String,
        _ args: [String],
        environment: [String: String]? = nil
    ) throws -> BackgroundProcess {
        try BackgroundProcess(executable, args, environment: environment, input: nil)
    }

    /// A loopback TCP port nobody listens on now, from the kernel (bind to port 0), for a configuration that must
    /// name one. A random pick from 20000-60000 once met a port in use (that range holds the ephemeral ports of
    /// the suite's own connections).
    static func freeLoopbackPort() throws -> Int {
        let (fd, port) = try boundLoopbackSocket()
        close(fd)
        return port
    }

    /// A TCP socket bound to 127.0.0.1 on a port the kernel chose, and that port; the caller closes it (or listens).
    static func boundLoopbackSocket(reuseAddress: Bool = false) throws -> (fd: Int32, port: Int) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw POSIXError(.EIO) }
        if reuseAddress {
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    /// Runs the sqlite3 CLI on `db` with `sql` (statements and dot-commands, given on stdin,
    /// stopping at the first error) and returns its output without trailing newlines.
    /// Throws `Failure.commandFailed` when sqlite3 exits non-zero.
    @discardableResult
    static func sqlite3(_ db: String, _ sql: String) throws -> String {
        let result = try run("sqlite3", ["-batch", "-bail", db], input: Data(sql.utf8), timeout: .seconds(120))
        guard result.status == 0 else {
            let shown = sql.count > 500 ? sql.prefix(500) + "…" : Substring(sql)
            throw Failure.commandFailed(command: "sqlite3 \(db) <<< \(shown)", status: result.status, stderr: result.stderr)
        }
        var output = Substring(result.stdout)
        while output.last == "\n" || output.last == "\r" { output.removeLast() }
        return String(output)
    }

    /// A child process whose stdout and stderr are read concurrently into memory. Started with posix_spawn, not
    /// Foundation's `Process`, whose `run()` crashes once this process has more than ~1,300 descriptors open
    /// (ManyTenantsTests' databases beside other suites; see `SpawnedProcess`).
    final class BackgroundProcess: @unchecked Sendable {
        let command: String
        private let process: SpawnedProcess
        private let exited = DispatchSemaphore(value: 0)
        private let readers = DispatchGroup()
        private let lock = NSLock()
        private var stdoutData = Data()
        private var stderrData = Data()
        private var status: Int32?

        var pid: Int32 { process.pid }
        var isRunning: Bool { !process.hasExited }

        fileprivate init(
            _ executable: String, _ args: [String], environment: [String: String]?, input: Data?
        ) throws {
            command = ([executable] + args).joined(separator: " ")
            var options = SpawnedProcess.Options(
                executable: try TestEnvironment.resolveExecutable(executable).path, arguments: args,
                environment: ProcessInfo.processInfo.environment.merging(environment ?? [:]) { $1 })
            // Our ends stay here; the child's ends are closed once it has them.
            let pipes = try [SpawnPipe.forChild(1), SpawnPipe.forChild(2)]
                + (input == nil ? [] : [SpawnPipe.forChild(0, childReads: true)])
            options.descriptors = pipes.map(\.mapping)
            options.standardInputFromNull = input == nil
            defer { for p in pipes { close(p.theirs) } }
            do {
                process = try SpawnedProcess.spawn(options)
            } catch {
                for p in pipes { close(p.ours) }
                throw error
            }
            let process = self.process
            Thread { [self] in
                let code = process.waitForExit().code
                lock.lock()
                status = code
                lock.unlock()
                exited.signal()
            }.start()

            collect(pipes[0].ours) { $0.stdoutData.append($1) }
            collect(pipes[1].ours) { $0.stderrData.append($1) }
            if pipes.count > 2, let input {
                let handle = FileHandle(fileDescriptor: pipes[2].ours, closeOnDealloc: true)
                Thread {
                    // A child may exit without reading all of it. Block SIGPIPE on this thread so
                    // that the write fails with EPIPE instead of the signal killing the test run.
                    var pipeSignal = sigset_t()
                    sigemptyset(&pipeSignal)
                    sigaddset(&pipeSignal, SIGPIPE)
                    pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
                    try? handle.write(contentsOf: input)
                    try? handle.close()
                }.start()
            }
        }

        /// Reads `fd` to its end on a thread of its own, then closes it: blocking reads on Dispatch's small
        /// shared pool (2 threads on a 2-core machine) would stall other work.
        private func collect(_ fd: Int32, _ append: @escaping @Sendable (BackgroundProcess, Data) -> Void) {
            readers.enter()
            Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 64 << 10)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    lock.lock()
                    append(self, Data(buffer[0..<n]))
                    lock.unlock()
                }
                close(fd)
                readers.leave()
            }.start()
        }

        /// Output so far (the process may still be running).
        var output: (stdout: String, stderr: String) {
            lock.lock()
            defer { lock.unlock() }
            return (String(decoding: stdoutData, as: UTF8.self), String(decoding: stderrData, as: UTF8.self))
        }

        func signal(_ signal: Int32) { process.signal(signal) }

        /// SIGINT, as Ctrl-C would send.
        func interrupt() { signal(SIGINT) }

        /// SIGTERM.
        func terminate() { signal(SIGTERM) }

        /// Waits for the process to exit and returns its status and output. On timeout it is
        /// sent SIGTERM, then SIGKILL after 2 s, and `Failure.timedOut` is thrown.
        @discardableResult
        func wait(timeout: Duration = .seconds(60)) throws -> (status: Int32, stdout: String, stderr: String) {
            if exited.wait(timeout: .now() + timeout.timeInterval) == .timedOut {
                terminate()
                if exited.wait(timeout: .now() + 2) == .timedOut {
                    signal(SIGKILL)
                    _ = exited.wait(timeout: .now() + 5)
                }
                _ = readers.wait(timeout: .now() + 2)
                let (stdout, stderr) = output
                throw Failure.timedOut(command: command, after: timeout, stdout: stdout, stderr: stderr)
            }
            exited.signal()  // let a later wait() return at once too
            // A grandchild may hold the pipes open; don't hang on it.
            _ = readers.wait(timeout: .now() + 5)
            let (stdout, stderr) = output
            lock.lock()
            defer { lock.unlock() }
            return (status ?? -1, stdout, stderr)
        }

        deinit { process.signal(SIGKILL) }
    }

    /// The URL of `executable`: a path as given, a bare name looked up in PATH.
    fileprivate static func resolveExecutable(_ executable: String) throws -> URL {
        if executable.contains("/") {
            return URL(fileURLWithPath: executable)
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(executable)"
            if isExecutableFile(candidate) { return URL(fileURLWithPath: candidate) }
        }
        throw Failure.missingTool("\(executable) not found in PATH")
    }

    fileprivate static func isExecutableFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            && !isDirectory.boolValue
            && FileManager.default.isExecutableFile(atPath: path)
    }
}

/// Runs the sqlite3 CLI on `db` with `sql`; see `TestEnvironment.sqlite3(_:_:)`.
@discardableResult
func sqlite3(_ db: String, _ sql: String) throws -> String {
    try TestEnvironment.sqlite3(db, sql)
}

extension Duration {
    /// This duration in seconds, as a `TimeInterval`.
    fileprivate var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
