#if Hummingbird
public import Hummingbird
public import LitestreamSupervisor

// Replication beside a Hummingbird app.
//
// The supervisor is a swift-service-lifecycle `Service`: add it to the application, and Hummingbird runs it in
// its `ServiceGroup`. Services come before the HTTP server in that group, and a `ServiceGroup` shuts its services
// down in reverse order, so on SIGTERM the server stops first and the replicator then ships the last writes.
//
// ```swift
// let supervisor = ReplicationSupervisor(configuration: .init(
//     databases: [.init(path: "orders.sqlite", replica: "s3://bucket/orders")]))
// _ = try await supervisor.prepareDatabases()      // restore on boot, WAL, before GRDB opens the pool
// let dbPool = try DatabasePool(path: "orders.sqlite")
//
// let router = Router()
// router.addLitestreamHealth(supervisor: supervisor, maximumLag: .seconds(60))
// router.addLitestreamDashboard(supervisor: supervisor)           // LITESTREAM_PASSWORD, or credentials:
//
// var app = Application(router: router)
// app.addServices(supervisor)
// try await app.runService()
// ```
//
// Commands through the app: add `LitestreamSubcommand<Provider>` to the app's swift-argument-parser command,
// where `Provider.litestreamConfiguration()` gives the same configuration as the server uses:
//
// ```swift
// @main struct App: AsyncParsableCommand {
//     static let configuration = CommandConfiguration(
//         subcommands: [Serve.self, LitestreamSubcommand<AppLitestream>.self], defaultSubcommand: Serve.self)
// }
// ```
//
// `App litestream restore -o /tmp/copy.db orders.sqlite` then runs `litestream restore` with the app's
// configuration; its arguments are passed through exactly as given.

extension Router {
    /// `GET path`: 200 when replication is healthy, 503 when the replicator is down, a database's sync fails, or
    /// a replica lags more than `maximumLag`; the body is JSON (``HealthReport/jsonBody()``). Unauthenticated, as
    /// a load balancer's check is; it shows paths and errors but no data.
    @discardableResult
    public func addLitestreamHealth(
        at path: RouterPath = "litestream/health",
        supervisor: ReplicationSupervisor,
        maximumLag: Duration = .seconds(60)
    ) -> Self {
        get(path) { _, _ in
            Response(LitestreamHTTP.health(status: await supervisor.status(), maximumLag: maximumLag))
        }
    }

    /// `GET path`: the dashboard (``DashboardPage``), behind HTTP basic auth. `credentials` default to
    /// `LITESTREAM_USERNAME` / `LITESTREAM_PASSWORD`; without a password the route answers 404, never an open page.
    @discardableResult
    public func addLitestreamDashboard(
        at path: RouterPath = "litestream",
        supervisor: ReplicationSupervisor,
        credentials: DashboardCredentials? = nil,
        page: DashboardPage = DashboardPage(),
        verifications: (@Sendable () async -> [VerificationRecord])? = nil
    ) -> Self {
        let credentials = (credentials ?? DashboardCredentials(password: nil)).fillingFromEnvironment()
        return get(path) { request, _ in
            Response(await LitestreamHTTP.dashboard(
                authorization: request.headers[.authorization],
                credentials: credentials,
                page: page,
                status: { await supervisor.status() },
                verifications: { await verifications?() ?? [] }
            ))
        }
    }
}

extension Response {
    init(_ response: LitestreamHTTPResponse) {
        var headers = HTTPFields()
        for (name, value) in response.headers {
            // `HTTPField` itself is not among the types Hummingbird re-exports; `HTTPFields.Element` is it.
            if let name = HTTPFields.Element.Name(name) { headers[name] = value }
        }
        self.init(
            status: HTTPResponse.Status(code: response.status),
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: response.body))
        )
    }
}
#endif
