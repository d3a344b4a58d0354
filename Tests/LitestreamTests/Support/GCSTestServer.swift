import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A real Google Cloud Storage emulator for one test: gcp-storage-emulator (PyPI) on loopback, keeping its objects
/// in a temporary directory, started by `scripts/gcs-emulator.py` from the repository's `.venv` (scripts/test.sh
/// installs it).
///
/// The server is stopped by ``stop()`` or when this object goes away, and stops itself when the test process dies
/// (the script watches its parent process). ``start()`` runs it again on the same port and data: an outage.
final class GCSTestServer: @unchecked Sendable {
    let dataDirectory: URL
    let port: Int
    let bucket: String
    private let lock = NSLock()
    private var process: TestEnvironment.BackgroundProcess?

    /// The Python of the repository's `.venv` when gcp-storage-emulator is installed there.
    static var python: String? {
        let venv = TestEnvironment.repositoryRoot.appendingPathComponent(".venv")
        let python = venv.appendingPathComponent("bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python),
            FileManager.default.isExecutableFile(atPath: venv.appendingPathComponent("bin/gcp-storage-emulator").path)
        else { return nil }
        return python
    }

    /// Whether GCS tests can run here (on CI they must: a missing emulator fails there).
    static var enabled: Bool { python != nil || TestEnvironment.isCI }

    /// Starts an emulator with `bucket` on a free port (or `port`) and waits until it answers.
    init(bucket: String = "litestream-test", port: Int? = nil) throws {
        self.bucket = bucket
        dataDirectory = try TestEnvironment.temporaryDirectory("gcs-data")
        self.port = try port ?? TestEnvironment.freeLoopbackPort()
        try start()
    }

    deinit { stop() }

    /// `127.0.0.1:<port>`: what `STORAGE_EMULATOR_HOST` says.
    var host: String { "127.0.0.1:\(port)" }
    var url: String { "http://\(host)" }
    /// The environment that points a client (ours or Litestream 0.5.17) at this emulator.
    var environment: [String: String] { ["STORAGE_EMULATOR_HOST": host, "GOOGLE_APPLICATION_CREDENTIALS": ""] }

    /// Starts the server (again), on the same port and data; waits until it answers.
    func start() throws {
        guard let python = Self.python else {
            throw TestEnvironment.Failure.missingTool(
                "gcp-storage-emulator not found in .venv: run scripts/test.sh (or pip install gcp-storage-emulator into .venv)")
        }
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("scripts/gcs-emulator.py").path
        let deadline = ContinuousClock.now + .seconds(90)
        while true {
            let child = try TestEnvironment.launch(python, [
                script, "--data-dir", dataDirectory.path, "--port", "\(port)", "--bucket", bucket,
            ])
            while child.isRunning && !child.output.stdout.contains("listening") && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.05)
            }
            if child.output.stdout.contains("listening") {
                lock.withLock { process = child }
                return
            }
            child.terminate()
            let out = try? child.wait(timeout: .seconds(10))
            // The port still held by the server just stopped (a restart): try again until the deadline.
            if ContinuousClock.now >= deadline || !(out?.stderr.contains("Address already in use") ?? false) {
                throw TestEnvironment.Failure.commandFailed(
                    command: "gcs-emulator.py on port \(port)", status: out?.status ?? -1, stderr: out?.stderr ?? "")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL) and waits for it to exit: the port refuses connections after this.
    func stop() {
        guard let child = lock.withLock({ () -> TestEnvironment.BackgroundProcess? in
            defer { process = nil }
            return process
        }) else { return }
        child.terminate()
        if (try? child.wait(timeout: .seconds(20))) == nil {
            child.signal(SIGKILL)
            _ = try? child.wait(timeout: .seconds(20))
        }
    }
}
