import Foundation
import LTX
import LitestreamClient
import LitestreamSupervisor
import Testing

/// The dashboard page (escaping, content, no third party) and its basic authentication.
@Suite struct DashboardTests {
    static let hostile = #"<script>alert("x")</script>&'"#

    static func status(path: String = "/data/app.db", error: String? = nil,
                       location: String = "s3://bucket/app.db") -> SupervisorStatus {
        var replica = ReplicaStatus(name: "s3", type: "s3", location: location)
        replica.positionKnown = true
        replica.txid = TXID(rawValue: 0x11)
        replica.lagSeconds = 2.5
        replica.lagBytes = 4096
        replica.lastUploadAt = 1_767_225_590_000
        replica.lastError = error
        var db = ReplicationStatus(path: path, localTXID: TXID(rawValue: 0x12), replicas: [replica])
        db.lastSyncAt = 1_767_225_599_000
        db.lastError = error
        return SupervisorStatus(state: .running, pid: 4242, restarts: 3, startedAt: 1_767_225_000_000,
                                lastExit: "killed by signal 9", lastError: error, databases: [db])
    }

    @Test func showsStateAndEveryDatabaseAndReplica() {
        let html = DashboardPage().render(status: Self.status(), now: 1_767_225_600_000)
        for needle in ["/data/app.db", "running", "4242", "<td>3</td>", "killed by signal 9", "0000000000000012",
                       "0000000000000011", "2.5 s (4.0 KiB)", "s3://bucket/app.db", "2026-01-01 00:00:00",
                       "10 s ago", "http-equiv=\"refresh\"", "prefers-color-scheme: dark"] {
            #expect(html.contains(needle), "missing \(needle)")
        }
    }

    @Test func escapesEveryValue() {
        let status = Self.status(path: "/data/" + Self.hostile, error: Self.hostile, location: "file://" + Self.hostile)
        let page = DashboardPage(title: Self.hostile)
        let records = [VerificationRecord(path: Self.hostile, result: .failed(reason: Self.hostile), finishedAt: 0)]
        let html = page.render(status: status, verifications: records, now: 1_767_225_600_000)
        #expect(!html.contains("<script"))
        #expect(!html.contains(#"alert("x")"#))
        #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"))
    }

    @Test func escapeHTMLTable() {
        #expect(DashboardPage.escapeHTML(#"a<b>&"c"'d"#) == "a&lt;b&gt;&amp;&quot;c&quot;&#39;d")
        #expect(DashboardPage.escapeHTML("x\u{0}y\u{1B}z\tw") == "x\u{FFFD}y\u{FFFD}z\tw")
        #expect(DashboardPage.escapeHTML("héllo → 🙂") == "héllo → 🙂")
    }

    @Test func locationsLoseTheirCredentials() {
        let html = DashboardPage().render(status: Self.status(location: "https://user:hunter2@example.com/b?sig=abc"))
        #expect(!html.contains("hunter2"))
        #expect(!html.contains("abc"))
    }

    @Test func noScriptNoThirdParty() {
        let html = DashboardPage().render(status: Self.status(), verifications: [
            VerificationRecord(path: "/data/app.db", result: .verified, finishedAt: 1_767_225_000_000),
        ])
        #expect(!html.contains("<script"))
        #expect(!html.contains("http://") && !html.contains("https://"))
        #expect(!html.contains("<link"))
        #expect(html.contains("verified"))
    }

    @Test func downReplicatorSaysSo() {
        let html = DashboardPage().render(status: SupervisorStatus(state: .restarting, restarts: 2,
                                                                   lastError: "exit status 1"))
        #expect(html.contains("restarting"))
        #expect(html.contains("the replicator is not running"))
        #expect(html.contains("exit status 1"))
    }

    // MARK: Authentication

    static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    @Test func withoutPasswordTheDashboardIsOff() {
        for credentials in [DashboardCredentials(password: nil), DashboardCredentials(password: "")] {
            #expect(credentials.authorize(authorizationHeader: Self.basic("litestream", "")) == .disabled)
            #expect(credentials.authorize(authorizationHeader: nil) == .disabled)
        }
    }

    @Test func basicAuth() {
        let credentials = DashboardCredentials(password: "s3cret:with:colons")
        #expect(credentials.username == "litestream")
        #expect(credentials.authorize(authorizationHeader: Self.basic("litestream", "s3cret:with:colons")) == .authorized)
        #expect(credentials.authorize(authorizationHeader: "basic " + Data("litestream:s3cret:with:colons".utf8)
            .base64EncodedString()) == .authorized)
        for header in [nil, "", "Basic", "Basic !!!", "Bearer abc", Self.basic("litestream", "s3cret"),
                       Self.basic("litestream", "s3cret:with:colonsX"), Self.basic("admin", "s3cret:with:colons"),
                       Self.basic("", "")] {
            #expect(credentials.authorize(authorizationHeader: header) == .unauthorized, "\(header ?? "nil")")
        }
    }

    @Test func credentialsFromTheEnvironment() {
        let env = ["LITESTREAM_USERNAME": "ops", "LITESTREAM_PASSWORD": "pw"]
        #expect(DashboardCredentials.fromEnvironment(env) == DashboardCredentials(username: "ops", password: "pw"))
        #expect(DashboardCredentials.fromEnvironment(["LITESTREAM_PASSWORD": "pw"]).username == "litestream")
        #expect(DashboardCredentials.fromEnvironment([:]).password == nil)
        // Swift values win; the environment fills what Swift left unset.
        #expect(DashboardCredentials(password: "swift").fillingFromEnvironment(env).password == "swift")
        #expect(DashboardCredentials(password: nil).fillingFromEnvironment(env) == .init(username: "ops", password: "pw"))
    }

    @Test func responses() async {
        let credentials = DashboardCredentials(password: "pw")
        let refused = await LitestreamHTTP.dashboard(authorization: nil, credentials: credentials,
                                                     status: { Self.status() })
        #expect(refused.status == 401)
        #expect(refused.headers.contains { $0.name == "WWW-Authenticate" && $0.value.hasPrefix("Basic ") })
        let off = await LitestreamHTTP.dashboard(authorization: Self.basic("litestream", "pw"),
                                                 credentials: DashboardCredentials(password: nil),
                                                 status: { Self.status() })
        #expect(off.status == 404)
        let page = await LitestreamHTTP.dashboard(authorization: Self.basic("litestream", "pw"),
                                                  credentials: credentials, status: { Self.status() })
        #expect(page.status == 200)
        #expect(String(decoding: page.body, as: UTF8.self).contains("/data/app.db"))
        let health = LitestreamHTTP.health(status: SupervisorStatus(state: .restarting), maximumLag: .seconds(5))
        #expect(health.status == 503)
    }
}
