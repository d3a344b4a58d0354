/// The environment of every `litestream` process the supervisor starts.
///
/// litestream-ruby's rule: the app's Swift settings fill `LITESTREAM_*` variables only where they are unset, so
/// what the deployment sets (a secret store, the container's environment) always wins over a value compiled in.
/// Secrets travel only this way: never in the generated file, an argument or a log line.
enum ChildEnvironment {
    /// The variables the Swift settings fill, and which setting fills each.
    static func settings(of configuration: ReplicationSupervisor.Configuration) -> [(String, String?)] {
        [
            ("LITESTREAM_REPLICA_BUCKET", configuration.bucket),
            ("LITESTREAM_ACCESS_KEY_ID", configuration.accessKeyID),
            ("LITESTREAM_SECRET_ACCESS_KEY", configuration.secretAccessKey),
            ("LITESTREAM_REPLICA_REGION", configuration.region),
            ("LITESTREAM_REPLICA_ENDPOINT", configuration.endpoint),
        ]
    }

    /// Variables that describe one particular supervisor–child pair: inherited from a supervisor above the app
    /// they would point the child at the wrong pipe or parent, so they are never passed on; the supervisor sets
    /// its own for its replicator.
    static let perChild = [
        "LITESTREAM_LIFELINE_FD", "LITESTREAM_SUPERVISOR_PID", "LITESTREAM_SOCKET", "LITESTREAM_SHUTDOWN_SYNC_TIMEOUT",
    ]

    /// `configuration.environment` with the unset `LITESTREAM_*` variables filled from the Swift settings.
    static func make(for configuration: ReplicationSupervisor.Configuration) -> [String: String] {
        var environment = configuration.environment
        for name in perChild { environment.removeValue(forKey: name) }
        for (name, value) in settings(of: configuration) {
            if environment[name] == nil, let value { environment[name] = value }
        }
        return environment
    }
}
