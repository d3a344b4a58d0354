import Logging
import Foundation

extension ReplicationSupervisor {
    /// What the supervisor replicates and how it runs the replicator. Every field has a working default; the
    /// smallest useful configuration names one database and one replica (or a bucket).
    ///
    /// The S3 settings mirror litestream-ruby's `config.litestream.*`: each fills the `LITESTREAM_*` environment
    /// variable of the child only where that variable is unset, so a deployment's environment always wins.
    public struct Configuration: Sendable {
        /// A database to replicate.
        public struct Database: Sendable, Hashable {
            /// The database file. Relative paths are resolved against the app's working directory.
            public var path: String
            /// Replica URLs (`s3://bucket/key`, `file:///backups/app`, ...). Empty: `s3://<bucket>/<file name>`
            /// when ``Configuration/bucket`` is set.
            public var replicas: [String]

            public init(path: String, replicas: [String] = []) {
                self.path = path
                self.replicas = replicas
            }

            public init(path: String, replica: String) {
                self.init(path: path, replicas: [replica])
            }
        }

        /// When the supervisor restarts a replicator that died, and when it gives up.
        public struct RestartPolicy: Sendable, Hashable {
            /// The first wait before a restart; it doubles with each restart in a row. Default 1 s.
            public var initialBackoff: Duration = .seconds(1)
            /// The longest wait between restarts. Default 30 s.
            public var maximumBackoff: Duration = .seconds(30)
            /// A run this long counts as healthy: the backoff starts again from ``initialBackoff``. Default 60 s.
            public var resetAfter: Duration = .seconds(60)
            /// At most this many restarts within ``window``; one more and the supervisor gives up, logs it at
            /// `critical`, and reports ``SupervisorStatus/State-swift.enum/failed`` (the app keeps running). Default 10.
            public var maximumRestarts: Int = 10
            /// Default 10 minutes.
            public var window: Duration = .seconds(600)

            public init() {}
        }

        /// The databases. Ignored when ``configPath`` is set (the file lists them).
        public var databases: [Database]
        /// A `litestream.yml` to run with. `nil` (the default): the supervisor writes a private one from the
        /// values here, in a 0700 directory of its own.
        public var configPath: String?
        /// `LITESTREAM_REPLICA_BUCKET`: the S3 bucket of databases without their own replica URL.
        public var bucket: String?
        /// `LITESTREAM_ACCESS_KEY_ID`.
        public var accessKeyID: String?
        /// `LITESTREAM_SECRET_ACCESS_KEY`. Passed only through the child's environment: never in a file, an
        /// argument, a log line or the status.
        public var secretAccessKey: String?
        /// `LITESTREAM_REPLICA_REGION`.
        public var region: String?
        /// `LITESTREAM_REPLICA_ENDPOINT`: for S3-compatible stores (MinIO, R2, B2, Tigris, ...).
        public var endpoint: String?
        /// Off: ``ReplicationSupervisor/run()`` logs one line and waits for shutdown; nothing is started. Use it
        /// for environments that must not replicate (tests, development). Default true.
        public var isEnabled: Bool = true
        /// The `litestream` executable. `nil` (the default): `LITESTREAM_EXECUTABLE`, then a `litestream` next to
        /// the app's own executable (where `swift build` puts the products of the app's dependencies), then `PATH`.
        public var executablePath: String?
        /// The control socket the supervisor talks to its child through. Default: `LITESTREAM_SOCKET` of
        /// ``environment`` when set (so that an operator's `litestream status` with the same variable reaches the
        /// app's replicator), else `nil`: a socket in the supervisor's private directory.
        public var socketPath: String?
        public var restartPolicy: RestartPolicy = .init()
        /// How long a stopping replicator may take for its final sync before it is killed. Default 30 s; keep it
        /// inside the host's own grace period (Kubernetes, systemd, Fly, ... default to 10-30 s).
        public var shutdownTimeout: Duration = .seconds(30)
        /// The environment the child starts from (before the `LITESTREAM_*` values above fill what is unset).
        /// Default: the app's environment.
        public var environment: [String: String]

        public init(
            databases: [Database] = [],
            configPath: String? = nil,
            bucket: String? = nil,
            accessKeyID: String? = nil,
            secretAccessKey: String? = nil,
            region: String? = nil,
            endpoint: String? = nil,
            environment: [String: String]? = nil
        ) {
            self.databases = databases
            self.configPath = configPath
            self.bucket = bucket
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.region = region
            self.endpoint = endpoint
            self.environment = environment ?? ProcessInfo.processInfo.environment
            self.socketPath = self.environment["LITESTREAM_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        }
    }
}
