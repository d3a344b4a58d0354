import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamWebDAV

/// The `webdav` replica in litestream.yml and as a URL, with Litestream 0.5.17's keys and rules.
struct WebDAVConfigTests {
    func parse(_ yaml: String) throws -> ReplicaConfiguration {
        try LitestreamConfiguration.parse(yaml: yaml, environment: [:]).databases[0].replicas[0]
    }

    func error(_ yaml: String) -> ConfigurationError? {
        do {
            _ = try LitestreamConfiguration.parse(yaml: yaml, environment: [:])
            return nil
        } catch {
            return error as? ConfigurationError
        }
    }

    @Test func urlForm() throws {
        let r = try parse("dbs:\n  - path: /a\n    replica:\n      url: webdavs://al%40ice:p%3Ass@dav.example.com:8443/backups/a\n")
        #expect(r.type == .webdav)
        let c = try r.webdavConfiguration()
        #expect(c.url == "https://dav.example.com:8443" && c.path == "backups/a")
        #expect(c.username == "al@ice" && c.password == "p:ss")
        let client = try #require(try r.makeClient() as? WebDAVReplicaClient)
        #expect(client.location == "webdavs://dav.example.com:8443/backups/a")
        #expect(client.type == "webdav")
        #expect(client.client.endpoint.url(["backups", "a", "ltx", "0"], collection: true)
            == "https://dav.example.com:8443/backups/a/ltx/0/")
    }

    @Test func keyForm() throws {
        let r = try parse("""
            webdav-password: GLOBALPW
            dbs:
              - path: /a
                replica:
                  type: webdav
                  webdav-url: http://nas.local/remote.php/dav/files/me
                  webdav-username: me
                  path: litestream/a
            """)
        let c = try r.webdavConfiguration()
        #expect(c.url == "http://nas.local/remote.php/dav/files/me" && c.path == "litestream/a")
        #expect(c.username == "me" && c.password == "GLOBALPW")  // inherited from the top level
        let client = try WebDAVReplicaClient(configuration: c)
        #expect(client.location == "webdav://nas.local/remote.php/dav/files/me/litestream/a")
        #expect(client.client.endpoint.url(["litestream", "a", "ltx", "9", "x y.ltx"])
            == "http://nas.local/remote.php/dav/files/me/litestream/a/ltx/9/x%20y.ltx")
    }

    @Test func keysOverrideTheURLsUserInfo() throws {
        let r = try parse("dbs:\n  - path: /a\n    replica:\n      url: webdav://u:p@h/x\n      webdav-username: v\n      webdav-password: q\n")
        let c = try r.webdavConfiguration()
        #expect(c.username == "v" && c.password == "q")
    }

    @Test(arguments: [
        ("url: webdav://h/x\n      path: y", "cannot specify url & path"),
        ("url: webdav://h/x\n      webdav-url: http://h", "cannot specify url & webdav-url"),
        ("type: webdav\n      path: y", "webdav-url required"),
        ("url: webdav:///x", "host required"),
        ("type: webdav\n      webdav-url: ftp://h", "http:// or https://"),
        ("url: s3://b/p\n      webdav-url: http://h", "is for a webdav replica"),
    ])
    func invalid(entry: String, message: String) throws {
        let e = try #require(error("dbs:\n  - path: /a\n    replica:\n      \(entry)\n"))
        #expect(e.message.contains(message), "\(e)")
    }

    @Test func printedConfigurationHidesThePasswords() throws {
        let yaml = """
            dbs:
              - path: /a
                replicas:
                  - url: webdav://alice:URLSECRET@h:8080/a
                  - type: webdav
                    webdav-url: https://h/dav
                    webdav-username: bob
                    webdav-password: KEYSECRET
                    path: b
            """
        let c = try LitestreamConfiguration.parse(yaml: yaml, environment: [:])
        var dumpedClient = ""
        dump(try c.databases[0].replicas[1].makeClient(), to: &dumpedClient)
        var dumpedConfiguration = ""
        dump(try c.databases[0].replicas[1].webdavConfiguration(), to: &dumpedConfiguration)
        for text in [c.redactedYAML(), c.description, "\(c.databases[0])", String(reflecting: c.databases[0].replicas),
            dumpedClient, dumpedConfiguration, "\(try c.databases[0].replicas[0].webdavConfiguration())"]
        {
            #expect(!text.contains("URLSECRET") && !text.contains("KEYSECRET"), "\(text)")
        }
        let printed = c.redactedYAML()
        #expect(printed.contains("url: \"webdav://alice:<redacted>@h:8080/a\""), "\(printed)")
        #expect(printed.contains("webdav-password: \"<redacted>\"") && printed.contains("webdav-username: \"bob\""))
        // The printed form parses back to the same configuration.
        let again = try LitestreamConfiguration.parse(yaml: printed, expandEnvironment: false, environment: [:])
        #expect(again.redactedYAML() == printed)
    }

    @Test func multistatusAndDates() throws {
        let body = Data("""
            <?xml version="1.0" encoding="utf-8" ?>
            <ns0:multistatus xmlns:ns0="DAV:"><ns0:response><ns0:href>/a/ltx/0/</ns0:href><ns0:propstat><ns0:prop>\
            <ns0:resourcetype><ns0:collection /></ns0:resourcetype></ns0:prop><ns0:status>HTTP/1.1 200 OK</ns0:status>\
            </ns0:propstat></ns0:response><ns0:response><ns0:href>http://h/a/ltx/0/0000000000000001-0000000000000001.ltx\
            </ns0:href><ns0:propstat><ns0:prop><ns0:resourcetype /><ns0:getcontentlength>198</ns0:getcontentlength>\
            <ns0:getlastmodified>Fri, 04 Dec 2026 15:40:06 GMT</ns0:getlastmodified></ns0:prop>\
            <ns0:status>HTTP/1.1 200 OK</ns0:status></ns0:propstat></ns0:response></ns0:multistatus>
            """.utf8)
        let entries = try #require(WebDAVMultistatus.parse(body))
        #expect(entries.count == 2 && entries[0].isCollection && entries[0].name == "0")
        #expect(entries[1] == .init(name: "0000000000000001-0000000000000001.ltx", isCollection: false, size: 198,
            lastModified: 1_796_398_806_000))
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777_000)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == 784_111_777_000)
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777_000)
        #expect(HTTPDate.parse("yesterday") == nil)
        #expect(WebDAVMultistatus.parse(Data("<html/>".utf8)) == nil)
    }
}
