#if Hummingbird
public import Hummingbird
public import LitestreamSupervisor

// The module's overview and an example: LitestreamHummingbird.docc.

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
