// A stand-in for a Vapor or Hummingbird app: a ServiceGroup whose SIGTERM and SIGINT are a graceful shutdown,
// with a ReplicationSupervisor in it. Its log (the supervisor's and the replicator's lines) goes to stderr.
//
//   SupervisorHost --db PATH [--replica URL]... [--config FILE] [--socket PATH] [--executable PATH]
//                  [--bucket NAME] [--endpoint URL] [--shutdown-timeout-ms N]
//                  [--max-restarts N] [--initial-backoff-ms N] [--log-level LEVEL] [-- COMMAND ARGS...]
//
// With `-- COMMAND ARGS...` it runs `litestream COMMAND ARGS...` through the supervisor (`runCommand`, as an
// app's `litestream` subcommand does) and exits with its status instead.
import Foundation
import LitestreamSupervisor
import Logging
import ServiceLifecycle
import UnixSignals

var databases: [String] = []
var replicas: [String] = []
var configuration = ReplicationSupervisor.Configuration()
var arguments = CommandLine.arguments.dropFirst()
var chosenLevel = Logger.Level.info
@MainActor func value(_ flag: String) -> String {
    guard let v = arguments.popFirst() else {
        FileHandle.standardError.write(Data("missing value for \(flag)\n".utf8))
        exit(64)
    }
    return v
}
var command: [String]?
while let flag = arguments.popFirst() {
    switch flag {
    case "--":
        command = Array(arguments)
        arguments = []
    case "--db": databases.append(value(flag))
    case "--replica": replicas.append(value(flag))
    case "--config": configuration.configPath = value(flag)
    case "--executable": configuration.executablePath = value(flag)
    case "--socket": configuration.socketPath = value(flag)
    case "--bucket": configuration.bucket = value(flag)
    case "--endpoint": configuration.endpoint = value(flag)
    case "--shutdown-timeout-ms": configuration.shutdownTimeout = .milliseconds(Int(value(flag)) ?? 30_000)
    case "--max-restarts": configuration.restartPolicy.maximumRestarts = Int(value(flag)) ?? 10
    case "--initial-backoff-ms": configuration.restartPolicy.initialBackoff = .milliseconds(Int(value(flag)) ?? 1000)
    case "--log-level": chosenLevel = Logger.Level(rawValue: value(flag)) ?? .info
    default:
        FileHandle.standardError.write(Data("unknown argument \(flag)\n".utf8))
        exit(64)
    }
}
configuration.databases = databases.map { .init(path: $0, replicas: replicas) }

// As every NIO-based server (Vapor, Hummingbird) does: a write to a closed socket is an error, not a death.
signal(SIGPIPE, SIG_IGN)
let level = chosenLevel
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = level
    return handler
}
let logger = Logger(label: "litestream")
let supervisor = ReplicationSupervisor(configuration: configuration, logger: logger)
if let command {
    do {
        exit(try await supervisor.runCommand(command))
    } catch {
        logger.error("host: \(error)")
        exit(1)
    }
}
let group = ServiceGroup(
    configuration: .init(
        services: [.init(service: supervisor)], gracefulShutdownSignals: [.sigterm, .sigint],
        logger: Logger(label: "host")))
do {
    try await group.run()
} catch {
    logger.error("host: \(error)")
    exit(1)
}
