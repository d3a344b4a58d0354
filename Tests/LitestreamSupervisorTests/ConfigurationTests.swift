import Testing

@testable import LitestreamSupervisor

@Suite struct ConfigurationTests {
    /// An operator's `litestream status` with the app's LITESTREAM_SOCKET reaches the app's replicator: the
    /// supervisor serves its child's socket there.
    @Test func theSocketDefaultsToLitestreamSocketOfTheEnvironment() {
        let set = ReplicationSupervisor.Configuration(configPath: "l.yml", environment: ["LITESTREAM_SOCKET": "/run/app/ls.sock"])
        #expect(set.socketPath == "/run/app/ls.sock")
        // Unset or empty (a shell's way to unset one for a command): a private socket.
        #expect(ReplicationSupervisor.Configuration(configPath: "l.yml", environment: [:]).socketPath == nil)
        #expect(ReplicationSupervisor.Configuration(configPath: "l.yml", environment: ["LITESTREAM_SOCKET": ""]).socketPath == nil)
    }
}
