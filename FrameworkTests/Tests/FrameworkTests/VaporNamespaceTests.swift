import LitestreamSupervisor
import LitestreamVapor
import Testing
import Vapor

/// `app.litestream`'s own decisions, on an Application made here (no server, no child process).
@Suite struct VaporNamespaceTests {
    static let configuration = ReplicationSupervisor.Configuration(
        databases: [.init(path: "/tmp/none.sqlite", replica: "file:///tmp/none-replica")])

    func withApp(_ environment: Environment, _ body: (Application) async throws -> Void) async throws {
        let app = try await Application.make(environment)
        do {
            try await body(app)
        } catch {
            try await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }

    @Test func offInTheTestingEnvironment() async throws {
        try await withApp(.testing) { app in
            app.litestream.configure(Self.configuration)
            #expect(app.litestream.supervisor.configuration.isEnabled == false)
        }
        try await withApp(.testing) { app in
            app.litestream.configure(Self.configuration, enabled: true)
            #expect(app.litestream.supervisor.configuration.isEnabled)
        }
    }

    @Test func onElsewhereUnlessSwitchedOff() async throws {
        try await withApp(Environment(name: "development", arguments: ["App"])) { app in
            app.litestream.configure(Self.configuration)
            #expect(app.litestream.supervisor.configuration.isEnabled)
        }
        var off = Self.configuration
        off.isEnabled = false
        try await withApp(Environment(name: "production", arguments: ["App"])) { app in
            app.litestream.configure(off)
            #expect(!app.litestream.supervisor.configuration.isEnabled)
        }
    }

    @Test(arguments: [
        (["App"], false), (["App", "serve"], false), (["App", "serve", "--port", "8081"], false),
        (["App", "litestream", "status"], true), (["App", "-y", "litestream", "restore", "-o", "x", "db"], true),
        (["App", "migrate", "litestream"], false),
    ])
    func whichCommandRuns(arguments: [String], isCommand: Bool) async throws {
        try await withApp(Environment(name: "development", arguments: arguments)) { app in
            app.litestream.configure(Self.configuration)
            #expect(app.litestream.isRunningCommand == isCommand)
            // The command is registered under its name, for `App litestream ...`.
            #expect(app.asyncCommands.commands["litestream"] != nil)
        }
    }

    /// The routes through Vapor's responder (the real router and response encoding), with replication off so
    /// that no child starts: 404 without a password, 401 without credentials, the page with them.
    @Test(arguments: [(nil, nil, 404), ("pw", nil, 401), ("pw", "litestream:nope", 401), ("pw", "litestream:pw", 200)])
    func dashboardAuthentication(password: String?, user: String?, expected: Int) async throws {
        try await withApp(Environment(name: "development", arguments: ["App"])) { app in
            app.litestream.configure(Self.configuration, enabled: false,
                                     credentials: DashboardCredentials(password: password ?? ""))
            app.litestream.mountDashboard()
            app.litestream.mountHealth()
            try await app.asyncBoot()
            let request = Request(application: app, method: .GET, url: URI(path: "/litestream"),
                                  on: app.eventLoopGroup.next())
            if let user {
                request.headers.replaceOrAdd(name: .authorization,
                                             value: "Basic " + Data(user.utf8).base64EncodedString())
            }
            let response = try await app.responder.respond(to: request).get()
            #expect(Int(response.status.code) == expected)
            if expected == 200 {
                // The page itself (the state may still read `starting`: the switched-off supervisor's task has
                // only just begun).
                #expect(response.body.string?.contains("<h2>Replicator</h2>") == true)
                #expect(response.headers.first(name: .contentType)?.hasPrefix("text/html") == true)
            }
            let health = try await app.responder.respond(
                to: Request(application: app, method: .GET, url: URI(path: "/litestream/health"),
                            on: app.eventLoopGroup.next())).get()
            // Switched off: healthy, it does what it was configured to do.
            #expect(health.status == .ok)
        }
    }
}
