import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// `$VAR` expansion as Go's os.Expand (what Litestream does), plus our `$$` escape.
struct ConfigEnvironmentTests {
    func expand(_ s: String, _ env: [String: String] = [:]) -> String {
        EnvironmentExpansion.expand(s, environment: env, processID: 4242)
    }

    @Test func goRules() {
        #expect(expand("$A-${A}-$B", ["A": "x"]) == "x-x-")
        #expect(expand("${NOPE}-$PID", ["PID": "ignored"]) == "-4242")
        #expect(expand("a$1b$*c$-d") == "abcd")
        #expect(expand("${}x") == "x")
        #expect(expand("${NOPE") == "NOPE")  // Go eats an unterminated "${"
        #expect(expand("cost: 5$ / $") == "cost: 5$ / $")
        #expect(expand("${A_B1}", ["A_B1": "v"]) == "v")
        #expect(expand("$A.b", ["A": "v"]) == "v.b")
        #expect(expand("${A\nB}") == "")  // braces span lines, as in Go
        #expect(expand("é$Aü", ["A": "ö"]) == "éöü")
    }

    @Test func dollarDollarIsALiteralDollar() {
        // Litestream would produce "ab"; nobody can rely on that, so we make it an escape.
        #expect(expand("a$$b") == "a$b")
        #expect(expand("p$$$$w") == "p$$w")
        #expect(expand("$$A", ["A": "x"]) == "$A")
        #expect(expand("a$$b-${NOPE}-$PID") == "a$b--4242")
    }

    @Test func expansionInAConfiguration() throws {
        let yaml = """
            dbs:
              - path: ${DATA}/app.db
                replica:
                  url: s3://$BUCKET/app
                  secret-access-key: pa$$word
                  access-key-id: $UNSET_KEY
            """
        let env = ["DATA": "/srv", "BUCKET": "bkt"]
        let c = try LitestreamConfiguration.parse(yaml: yaml, environment: env)
        #expect(c.databases[0].path == "/srv/app.db")
        let r = c.databases[0].replicas[0]
        #expect(r.url == "s3://bkt/app" && r.settings.secretAccessKey?.value == "pa$word")
        #expect(r.settings.accessKeyID == nil)  // unset expands to "", i.e. `access-key-id:` with no value
    }

    @Test func noExpandEnvKeepsTheTextAsIs() throws {
        let yaml = "dbs:\n  - path: /srv/$DB\n    replica: {path: /b/$$x}\n"
        let c = try LitestreamConfiguration.parse(yaml: yaml, expandEnvironment: false, environment: ["DB": "no"])
        #expect(c.databases[0].path == "/srv/$DB")
        #expect(c.databases[0].replicas[0].path == "/b/$$x")
    }
}
