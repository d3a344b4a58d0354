import Foundation
import NIOCore
import Testing

@testable import LitestreamNATS

/// The NATS client protocol and the object store's records, byte for byte: what the server sends is split into
/// operations whatever the pieces it arrives in; what we send is what nats.go sends.
struct NATSProtocolTests {
    static func parseAll(_ text: String) throws -> [NATSServerOp] {
        var buffer = ByteBuffer(string: text)
        var out: [NATSServerOp] = []
        while let op = try NATSFrameDecoder.parse(&buffer) { out.append(op) }
        #expect(buffer.readableBytes == 0)
        return out
    }

    @Test func serverOperations() throws {
        // A JetStream ack comes with an empty reply field (two spaces), as nats-server 2.9 writes it.
        let ops = try Self.parseAll(
            "INFO {\"server_id\":\"N1\",\"version\":\"2.9.10\",\"headers\":true,\"max_payload\":1048576,\"nonce\":\"abc\",\"jetstream\":true}\r\n"
                + "PING\r\nPONG\r\n+OK\r\n-ERR 'Authorization Violation'\r\n"
                + "MSG _INBOX.x.3 1  27\r\n{\"stream\":\"OBJ_b\", \"seq\":1}\r\n"
                + "HMSG $O.b.M.bmFtZQ== 2 $JS.ACK.OBJ_b.X6.1.4.1.1796412372974216657.0 30 45\r\nNATS/1.0\r\nNats-Rollup: sub\r\n\r\n{\"name\":\"name\"}\r\n"
                + "HMSG _INBOX.x.12 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n")
        #expect(ops.count == 8)
        guard case .info(let info) = ops[0] else { Issue.record("not INFO"); return }
        #expect(info.nonce == "abc" && info.maxPayload == 1_048_576 && info.jetstream == true)
        guard case .ping = ops[1], case .pong = ops[2], case .ok = ops[3] else { Issue.record("control ops"); return }
        guard case .err(let text) = ops[4] else { Issue.record("not -ERR"); return }
        #expect(text == "Authorization Violation")
        guard case .msg(let ack) = ops[5] else { Issue.record("not MSG"); return }
        #expect(ack.subject == "_INBOX.x.3" && ack.sid == 1 && ack.replyTo == nil)
        #expect(String(buffer: ack.payload) == "{\"stream\":\"OBJ_b\", \"seq\":1}")
        guard case .msg(let meta) = ops[6] else { Issue.record("not HMSG"); return }
        #expect(meta.replyTo == "$JS.ACK.OBJ_b.X6.1.4.1.1796412372974216657.0" && meta.status == nil)
        #expect(meta.header("nats-rollup") == "sub")
        #expect(String(buffer: meta.payload) == "{\"name\":\"name\"}")
        guard case .msg(let noResponders) = ops[7] else { Issue.record("not HMSG"); return }
        #expect(noResponders.status == 503 && noResponders.payload.readableBytes == 0)
    }

    @Test func operationsSplitAnywhereAreReassembled() throws {
        let text = "MSG a.b 7 r.1 5\r\nhello\r\nPING\r\n"
        for cut in 1..<text.utf8.count {
            var buffer = ByteBuffer(string: String(text.prefix(cut)))
            var ops: [NATSServerOp] = []
            while let op = try NATSFrameDecoder.parse(&buffer) { ops.append(op) }
            buffer.writeString(String(text.dropFirst(cut)))
            while let op = try NATSFrameDecoder.parse(&buffer) { ops.append(op) }
            #expect(ops.count == 2, "cut at \(cut)")
            if case .msg(let m) = ops.first {
                #expect(m.subject == "a.b" && m.sid == 7 && m.replyTo == "r.1" && String(buffer: m.payload) == "hello")
            } else {
                Issue.record("cut at \(cut): no MSG first")
            }
        }
    }

    @Test func clientOperations() {
        var pub = ByteBuffer()
        NATSClientOp.publish(subject: "$O.b.C.n1", replyTo: "_INBOX.i.1", payload: Array("data".utf8), into: &pub)
        #expect(String(buffer: pub) == "PUB $O.b.C.n1 _INBOX.i.1 4\r\ndata\r\n")
        var hpub = ByteBuffer()
        NATSClientOp.publish(subject: "$O.b.M.bg==", replyTo: "_INBOX.i.2", headers: [("Nats-Rollup", "sub")], payload: Array("{}".utf8), into: &hpub)
        #expect(String(buffer: hpub) == "HPUB $O.b.M.bg== _INBOX.i.2 30 32\r\nNATS/1.0\r\nNats-Rollup: sub\r\n\r\n{}\r\n")
        #expect(NATSClientOp.sub("_INBOX.i.*", sid: 1) == "SUB _INBOX.i.* 1\r\n")
    }

    /// The record nats.go's `Put` stores for a Litestream file, as Go's `json.Marshal` writes it.
    @Test func objectInfoJSONAsGoWritesIt() throws {
        let info = NATSObjectInfo(name: "ltx/0/0000000000000001-0000000000000001.ltx",
            headers: ["Litestream-Timestamp": ["2026-11-27T04:12:53.217Z"]], options: .init(maxChunkSize: 131072),
            bucket: "litestream", nuid: "AbCdEfGhIjKlMnOpQrStUv", size: 4270, chunks: 1,
            digest: "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=")
        #expect(info.json == """
            {"name":"ltx/0/0000000000000001-0000000000000001.ltx","headers":{"Litestream-Timestamp":["2026-11-27T04:12:53.217Z"]},"options":{"max_chunk_size":131072},"bucket":"litestream","nuid":"AbCdEfGhIjKlMnOpQrStUv","size":4270,"mtime":"0001-01-01T00:00:00Z","chunks":1,"digest":"SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="}
            """)
        var deleted = info
        (deleted.deleted, deleted.size, deleted.chunks, deleted.digest) = (true, 0, 0, nil)
        #expect(deleted.json.hasSuffix(#""size":0,"mtime":"0001-01-01T00:00:00Z","chunks":0,"deleted":true}"#))
        let decoded = try JSONDecoder().decode(NATSObjectInfo.self, from: Data(info.json.utf8))
        #expect(decoded == info)
        #expect(decoded.header("litestream-timestamp") == "2026-11-27T04:12:53.217Z")
        #expect(NATSObjectInfo.quote("a<b>&\"c\"\n") == #""a\u003cb\u003e\u0026\"c\"\n""#)
    }

    @Test func subjectsAndAckMetadata() throws {
        // Object names are base64url with padding in the meta subject, as nats.go's encodeName.
        #expect(Base64URL.encode(Array("ltx/0/0000000000000001-0000000000000001.ltx".utf8), padding: true)
            == "bHR4LzAvMDAwMDAwMDAwMDAwMDAwMS0wMDAwMDAwMDAwMDAwMDAxLmx0eA==")
        #expect(NATSObjectStore.ackMetadata("$JS.ACK.OBJ_b.X6VEaYZK.1.4.1.1796412372974216657.0") == (0, 1_796_412_372_974))
        #expect(NATSObjectStore.ackMetadata("$JS.ACK.dom.ACCHASH.OBJ_b.c.1.4.1.1796412372974216657.3.tok") == (3, 1_796_412_372_974))
        #expect(NUID.next().count == 22)
    }

    @Test func urlAndConfiguration() throws {
        let c = try NATSConfiguration.parse(url: "nats://me:s%40cret@nats.example:4333/backups?x=1")
        #expect(c.host == "nats.example" && c.port == 4333 && c.bucket == "backups")
        #expect(c.username == "me" && c.password == "s@cret")
        #expect(c.description == "nats://nats.example:4333/backups")
        let t = try NATSConfiguration.parse(url: "nats://tok3n@localhost/b")
        #expect(t.token == "tok3n" && t.port == 4222 && t.credential == .token("tok3n"))
        #expect(throws: NATSConfiguration.Invalid.self) { try NATSConfiguration.parse(url: "nats://localhost:4222") }
        #expect(throws: NATSConfiguration.Invalid.self) { try NATSConfiguration.parse(url: "nats://localhost:4222/a.b").validate() }
        var mtls = NATSConfiguration(bucket: "b")
        mtls.clientCert = "/c.pem"
        #expect(throws: NATSConfiguration.Invalid.self) { try mtls.validate() }
        // Litestream's precedence: jwt+seed, creds, nkey, user+password, token.
        var all = NATSConfiguration(bucket: "b")
        (all.username, all.password, all.token, all.creds) = ("u", "p", "t", "/x.creds")
        #expect(all.credential == .credsFile("/x.creds"))
        #expect(all.levelPrefix(9) == "ltx/9/")
        all.path = "tenants/a/"
        #expect(all.levelPrefix(0) == "tenants/a/ltx/0/")
    }
}
