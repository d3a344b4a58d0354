import Foundation
import LitestreamConfig
import Testing

@testable import LitestreamSupervisor

/// The configuration the supervisor writes for its child, and the child's environment: Swift settings fill the
/// `LITESTREAM_*` variables only where they are unset, and no secret is ever written to the file.
@Suite struct ChildConfigurationFileTests {
    typealias Configuration = ReplicationSupervisor.Configuration
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    @Test func swiftSettingsFillOnlyUnsetVariables() {
        var c = Configuration(
            bucket: "swift-bucket", accessKeyID: "AKIASWIFT", secretAccessKey: Self.secret, region: "eu-west-1",
            endpoint: "http://swift:9000",
            environment: [
                "LITESTREAM_REPLICA_BUCKET": "deploy-bucket", "LITESTREAM_SECRET_ACCESS_KEY": "deploy-secret",
                "LITESTREAM_REPLICA_REGION": "", "PATH": "/bin",
                "LITESTREAM_LIFELINE_FD": "7", "LITESTREAM_SUPERVISOR_PID": "1", "LITESTREAM_SOCKET": "/x.sock",
            ])
        c.databases = [.init(path: "/data/app.db")]
        let environment = ChildEnvironment.make(for: c)
        #expect(environment["LITESTREAM_REPLICA_BUCKET"] == "deploy-bucket")
        #expect(environment["LITESTREAM_SECRET_ACCESS_KEY"] == "deploy-secret")
        // Set but empty is set (litestream-ruby's `||=` keeps it too).
        #expect(environment["LITESTREAM_REPLICA_REGION"] == "")
        #expect(environment["LITESTREAM_ACCESS_KEY_ID"] == "AKIASWIFT")
        #expect(environment["LITESTREAM_REPLICA_ENDPOINT"] == "http://swift:9000")
        #expect(environment["PATH"] == "/bin")
        // A supervisor above the app does not get to describe this app's child.
        #expect(environment["LITESTREAM_LIFELINE_FD"] == nil)
        #expect(environment["LITESTREAM_SUPERVISOR_PID"] == nil)
        #expect(environment["LITESTREAM_SOCKET"] == nil)
    }

    @Test func bucketReplicaRefersToTheEnvironmentAndHoldsNoSecret() throws {
        let c = Configuration(
            databases: [.init(path: "/data/app.db"), .init(path: "/data/other.db", replica: "file:///backups/other")],
            bucket: "b", accessKeyID: "AKIASWIFT", secretAccessKey: Self.secret, region: "eu-west-1", environment: [:])
        let environment = ChildEnvironment.make(for: c)
        let file = try #require(try ChildConfigurationFile.make(
            databases: c.databases, environment: environment, socketPath: "/run/x/litestream.sock",
            shutdownSyncTimeout: .seconds(28)))
        #expect(!file.yaml.contains(Self.secret))
        #expect(!file.yaml.contains("AKIASWIFT"))
        #expect(!file.yaml.contains("secret-access-key") && !file.yaml.contains("access-key-id"))
        #expect(file.yaml.contains(#"bucket: "${LITESTREAM_REPLICA_BUCKET}""#))
        #expect(file.yaml.contains(#"region: "${LITESTREAM_REPLICA_REGION}""#))
        #expect(!file.yaml.contains("endpoint"), "no endpoint is set")
        #expect(file.databases == ["/data/app.db", "/data/other.db"])

        // The child reads it: the bucket and region come from its environment.
        let parsed = try LitestreamConfiguration.parse(yaml: file.yaml, environment: environment)
        #expect(parsed.databases.map(\.path) == ["/data/app.db", "/data/other.db"])
        let s3 = try #require(parsed.databases.first?.replicas.first)
        #expect(s3.type == .s3)
        #expect(s3.settings.bucket == "b" && s3.settings.region == "eu-west-1" && s3.path == "app.db")
        #expect(s3.settings.secretAccessKey == nil, "credentials come from the environment at connect time")
        #expect(parsed.databases.last?.replicas.first?.url == "file:///backups/other")
        #expect(parsed.socket.enabled && parsed.socket.path == "/run/x/litestream.sock")
        #expect(parsed.shutdownSyncTimeout == .seconds(28))
    }

    @Test func awkwardPathsSurviveQuotingAndExpansion() throws {
        let path = #"/data/a "quoted" $HOME \dir/app.db"#
        let file = try #require(try ChildConfigurationFile.make(
            databases: [.init(path: path, replica: "file:///backups/$x")], environment: ["HOME": "/home/u"],
            socketPath: "/s.sock", shutdownSyncTimeout: nil))
        let parsed = try LitestreamConfiguration.parse(yaml: file.yaml, environment: ["HOME": "/home/u"])
        #expect(parsed.databases.first?.path == path)
        #expect(parsed.databases.first?.replicas.first?.url == "file:///backups/$x")
    }

    @Test func withoutAnyReplicaThereIsNothingToRun() throws {
        #expect(try ChildConfigurationFile.make(
            databases: [.init(path: "/a.db")], environment: [:], socketPath: "/s", shutdownSyncTimeout: nil) == nil)
        let partial = try #require(try ChildConfigurationFile.make(
            databases: [.init(path: "/a.db"), .init(path: "/b.db", replica: "file:///r")], environment: [:],
            socketPath: "/s", shutdownSyncTimeout: nil))
        #expect(partial.databases == ["/b.db"] && partial.skipped == ["/a.db"])
    }

    @Test func twoDatabasesCannotShareAPlaceInTheBucket() {
        #expect(throws: SupervisorError.self) {
            try ChildConfigurationFile.make(
                databases: [.init(path: "/x/app.db"), .init(path: "/y/app.db")],
                environment: ["LITESTREAM_REPLICA_BUCKET": "b"], socketPath: "/s", shutdownSyncTimeout: nil)
        }
    }
}
