import Logging
import Testing

@testable import LitestreamSupervisor

/// The child's log lines (Go slog text and JSON, as `litestream` writes them) become the app's log entries.
@Suite struct ChildLogLineTests {
    @Test func slogTextWithQuotedAndBareValues() throws {
        let line = try #require(ChildLogLine(parsing:
            #"time=2026-01-01T00:00:00.123Z level=WARN msg="replica sync failed" db=/data/app.db error="dial tcp: \"refused\"\n" n=3"#))
        #expect(line.level == .warning)
        #expect(line.message == "replica sync failed")
        #expect(line.metadata == ["db": "/data/app.db", "error": "dial tcp: \"refused\"\n", "n": "3"])
    }

    @Test(arguments: [
        ("DEBUG", Logger.Level.debug), ("DEBUG-4", .trace), ("INFO", .info), ("INFO+2", .info), ("WARN", .warning),
        ("ERROR", .error), ("error", .error),
    ])
    func levels(name: String, level: Logger.Level) throws {
        #expect(ChildLogLine(parsing: "time=x level=\(name) msg=m")?.level == level)
    }

    @Test func goQuoteEscapes() throws {
        let line = try #require(ChildLogLine(parsing: #"level=INFO msg="tab\there \u00e9 \x41 back\\slash""#))
        #expect(line.message == "tab\there é A back\\slash")
    }

    @Test func jsonLines() throws {
        let line = try #require(ChildLogLine(parsing:
            #"{"time":"2026-01-01T00:00:00Z","level":"ERROR","msg":"upload failed","db":"/a.db","attempt":2}"#))
        #expect(line.level == .error)
        #expect(line.message == "upload failed")
        #expect(line.metadata == ["db": "/a.db", "attempt": "2"])
    }

    @Test(arguments: [
        "Fatal error: Unexpectedly found nil", "a=b c=d", "level=INFO", "msg=x", "", "{not json", #"level=INFO msg="open"#,
        "time=x level=NOPE msg=m",
    ])
    func notLogLines(_ text: String) {
        #expect(ChildLogLine(parsing: text) == nil)
    }
}
