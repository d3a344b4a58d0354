/// An HTTP answer, independent of the web framework: the Vapor and Hummingbird routes translate it, so that both
/// give the same status codes, headers and bytes.
public struct LitestreamHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// The health and dashboard endpoints, framework-neutral.
public enum LitestreamHTTP {
    /// The health check: 200 or 503, with ``HealthReport/jsonBody()``. Not cached anywhere on the way.
    public static func health(status: SupervisorStatus, maximumLag: Duration) -> LitestreamHTTPResponse {
        let report = HealthReport(status: status, maximumLag: maximumLag)
        return LitestreamHTTPResponse(
            status: report.httpStatusCode,
            headers: [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store")],
            body: report.jsonBody()
        )
    }

    /// The dashboard: 404 when no password is configured, 401 (with a basic-auth challenge) without the right
    /// credentials, the page otherwise. `status` and `verifications` are asked only for an authorized request.
    public static func dashboard(
        authorization: String?,
        credentials: DashboardCredentials,
        page: DashboardPage = DashboardPage(),
        status: () async -> SupervisorStatus,
        verifications: () async -> [VerificationRecord] = { [] }
    ) async -> LitestreamHTTPResponse {
        switch credentials.authorize(authorizationHeader: authorization) {
        case .disabled:
            return LitestreamHTTPResponse(status: 404, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                          body: Array("Not Found\n".utf8))
        case .unauthorized:
            return LitestreamHTTPResponse(
                status: 401,
                headers: [("WWW-Authenticate", DashboardCredentials.challenge),
                          ("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
                body: Array("Unauthorized\n".utf8)
            )
        case .authorized:
            let html = page.render(status: await status(), verifications: await verifications())
            return LitestreamHTTPResponse(
                status: 200,
                headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
                          // No script runs on this page; say so, so that an injected one would not either.
                          ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
                          ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")],
                body: Array(html.utf8)
            )
        }
    }
}
