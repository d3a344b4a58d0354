import Foundation
import Testing

/// The two example apps (Examples/), described so that every test runs against both.
enum FixtureApp: String, CaseIterable, CustomTestStringConvertible, Sendable {
    /// Examples/notes-vapor: Vapor + Fluent (sqlite-nio); `POST /notes {"body"}`.
    case vapor = "NotesVapor"
    /// Examples/orders-hummingbird: Hummingbird + GRDB's DatabasePool; `POST /orders {"item"}`.
    case hummingbird = "OrdersHummingbird"

    var testDescription: String { rawValue }
    var table: String { self == .vapor ? "notes" : "orders" }
    var field: String { self == .vapor ? "body" : "item" }
    var executable: String { get throws { try Env.product(rawValue) } }
    /// The example's directory in this repository.
    var directory: URL {
        Env.repositoryRoot.appendingPathComponent("Examples/\(self == .vapor ? "notes-vapor" : "orders-hummingbird")")
    }

    /// The arguments that serve HTTP on `port`, as the example's README runs it.
    func serveArguments(port: Int) -> [String] {
        let common = ["--hostname", "127.0.0.1", "--port", String(port)]
        return self == .vapor ? ["serve"] + common : common
    }

    func json(_ text: String) -> String { #"{"\#(field)":"\#(text)"}"# }
}

/// One test's setting for an app: a working directory with the example's `config/`, the database under `data/`
/// as the example keeps it, a bucket of its own, and the production environment that points the example's
/// config/litestream.yml at it.
struct Setup {
    let app: FixtureApp
    let dir: TemporaryDirectory
    let endpoint: String
    let bucket: String
    var database: String { dir.file("data/\(app.table).sqlite") }
    var replica: String { replicaURL(endpoint: endpoint, bucket: bucket, path: "\(app.table).sqlite") }
    var socket: String { dir.file("ls.sock") }
    var password = "dashboard-pw"
    var maximumLag = 60

    init(app: FixtureApp, endpoint: String? = nil) throws {
        self.app = app
        self.dir = try TemporaryDirectory()
        self.endpoint = try endpoint ?? Env.s3Endpoint()
        self.bucket = try makeBucket(endpoint: self.endpoint)
        try FileManager.default.copyItem(at: app.directory.appendingPathComponent("config"),
                                         to: dir.url.appendingPathComponent("config"))
    }

    /// What an operator sets in production (see the examples' READMEs), aimed at the test's bucket on moto.
    func environment(extra: [String: String] = [:]) -> [String: String] {
        [
            "VAPOR_ENV": "production", "APP_ENV": "production",
            "LITESTREAM_REPLICA_BUCKET": bucket, "LITESTREAM_REPLICA_ENDPOINT": endpoint,
            "LITESTREAM_REPLICA_REGION": "us-east-1",
            "LITESTREAM_ACCESS_KEY_ID": "test", "LITESTREAM_SECRET_ACCESS_KEY": "test",
            "LITESTREAM_SOCKET": socket,
            "HEALTH_MAX_LAG": String(maximumLag), "LITESTREAM_PASSWORD": password,
            "LOG_LEVEL": "info",
        ].merging(extra) { $1 }
    }
}

/// A fixture app running as a process of its own, its stdout and stderr in one log file.
final class AppProcess {
    let setup: Setup
    let port: Int
    let process = Process()
    let logPath: String
    var base: String { "http://127.0.0.1:\(port)" }

    init(_ setup: Setup, arguments: [String] = [], extra: [String: String] = [:], name: String = "app") throws {
        self.setup = setup
        port = try freePort()
        logPath = setup.dir.file("\(name)-\(port).log")
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: try setup.app.executable)
        process.arguments = setup.app.serveArguments(port: port) + arguments
        process.environment = Env.environment.merging(setup.environment(extra: extra)) { $1 }
        process.currentDirectoryURL = setup.dir.url
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until the app answers on its health route (whatever the verdict): it serves.
    func waitUntilServing(timeout: Duration = .seconds(90)) throws {
        try eventually("\(setup.app) to serve on \(port)", timeout: timeout) {
            guard process.isRunning else { throw Failure("\(setup.app) exited: \(log)") }
            return try http(base + "/litestream/health", timeout: 5).status != 0
        }
    }

    /// Waits until the health route says 200 and the replicator replicates the database, its replica's position
    /// known: a replicator that has not listed its databases yet is healthy but cannot sync one.
    func waitUntilHealthy(timeout: Duration = .seconds(90)) throws {
        try eventually("\(setup.app) to be healthy and replicating", timeout: timeout) {
            guard process.isRunning else { throw Failure("\(setup.app) exited: \(log)") }
            let health = try http(base + "/litestream/health", timeout: 5)
            guard health.status == 200,
                  let body = try JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any],
                  let status = body["status"] as? [String: Any],
                  let databases = status["databases"] as? [[String: Any]],
                  let database = databases.first(where: { $0["path"] as? String == setup.database }),
                  let replicas = database["replicas"] as? [[String: Any]], !replicas.isEmpty
            else { return false }
            return replicas.allSatisfy { $0["positionKnown"] as? Bool == true }
        }
    }

    /// Writes one row; returns its id once the app acknowledged it.
    func write(_ text: String, critical: Bool = false) throws -> Int {
        let path = "/\(setup.app.table)" + (critical ? "/critical" : "")
        let result = try http(base + path, method: "POST", json: setup.app.json(text))
        guard result.status == 200, let id = Self.id(in: result.body) else {
            throw Failure("POST \(path): HTTP \(result.status) \(result.body)")
        }
        return id
    }

    static func id(in json: String) -> Int? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return nil }
        return (object["id"] as? NSNumber)?.intValue
    }

    /// The rows the app serves, as (id, text).
    func rows() throws -> [(id: Int, text: String)] {
        let result = try http(base + "/\(setup.app.table)")
        guard result.status == 200,
              let array = try JSONSerialization.jsonObject(with: Data(result.body.utf8)) as? [[String: Any]]
        else { throw Failure("GET: HTTP \(result.status) \(result.body)") }
        return array.map { (($0["id"] as? NSNumber)?.intValue ?? -1, $0[setup.app.field] as? String ?? "") }
    }

    /// SIGTERM, then waits for the exit; returns the exit status.
    @discardableResult
    func terminate(timeout: Duration = .seconds(60)) throws -> Int32 {
        if process.isRunning { kill(pid, SIGTERM) }
        try eventually("\(setup.app) to exit after SIGTERM", timeout: timeout, interval: .milliseconds(50)) {
            !process.isRunning
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }
}
