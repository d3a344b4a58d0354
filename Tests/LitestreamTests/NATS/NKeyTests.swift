import Foundation
import Testing

@testable import LitestreamNATS

/// nkey seeds, public keys and nonce signatures byte for byte against the official `nkeys` Python package 0.2.1
/// (scripts/nats-nkey-goldens.py prints these values).
struct NKeyTests {
    struct Golden: Sendable {
        var seed: String
        var publicKey: String
        var signature: String
    }
    static let nonce = "dXNlIHRoZSBub25jZQ"
    static let goldens = [
        Golden(seed: "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y",
            publicKey: "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK",
            signature: "vimk-wMcSAdpeET3JBw0WmSAHoc7Xuv5lGIansgtvYAdPmQAdAA4CB-2hMq_jXu1vOIpEltyh3mODYTghfCYAw"),
        Golden(seed: "SUAKLJNFUWS2LJNFUWS2LJNFUWS2LJNFUWS2LJNFUWS2LJNFUWS2LJICGQ",
            publicKey: "UAU6LAZ2SFNGIKNE4OTZJBDVYM4O6Q3OXAV6RHES6BMXARAD3OOVLEKP",
            signature: "A_t1qpH3DODOMdWlP2CpQqwRZCdxXDOm_C-6hC0EadFYpc6sSIy-T4-UFfO2U8ZTnkzxOv6dhwJUf2TzAZzfAg"),
    ]

    @Test(arguments: goldens)
    func seedDecodesSignsAsNkeysDoes(_ g: Golden) throws {
        let key = try NKey(seed: g.seed)
        #expect(key.publicKey == g.publicKey)
        #expect(try key.sign(nonce: Self.nonce) == g.signature)
    }

    @Test func seedEncodingRoundTrips() throws {
        // The seed of bytes 0…31: two prefix bytes ('S' and the user type), the key, the CRC-16 (0xf6ff, LE).
        let raw = Base32.decode(Self.goldens[0].seed)!
        #expect(raw.count == 36)
        #expect(Array(raw[2..<34]) == Array(0..<32))
        #expect(CRC16.xmodem(raw[0..<34]) == 0xF6FF)
        #expect(raw[34] == 0xFF && raw[35] == 0xF6)
        #expect(NKey.encode(prefix: Array(raw[0..<2]), payload: Array(raw[2..<34])) == Self.goldens[0].seed)
    }

    @Test func badSeedsAreRefusedWithoutBeingRepeated() {
        var typo = Array(Self.goldens[0].seed)
        typo[10] = typo[10] == "A" ? "B" : "A"
        for bad in [String(typo), Self.goldens[0].publicKey, "not a seed", String(Self.goldens[0].seed.dropLast(4))] {
            #expect {
                _ = try NKey(seed: bad)
            } throws: { error in
                let e = error as? NATSError
                return e?.code == .invalidCredentials && !"\(error)".contains(bad)
            }
        }
    }

    @Test func credentialsFileAsNscWritesIt() throws {
        let text = """
            -----BEGIN NATS USER JWT-----
            eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQUIyIn0.c2ln
            ------END NATS USER JWT------

            ************************* IMPORTANT *************************
            NKEY Seed printed below can be used to sign and prove identity.
            NKEYs are sensitive and should be treated as secrets.

            -----BEGIN USER NKEY SEED-----
            \(Self.goldens[0].seed)
            ------END USER NKEY SEED------

            *************************************************************

            """
        let creds = try NATSCredentials(text: text, name: "user.creds")
        #expect(creds.jwt == "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQUIyIn0.c2ln")
        #expect(creds.seed == Self.goldens[0].seed)
        #expect(throws: NATSError.self) { try NATSCredentials(text: "just text", name: "x.creds") }
    }
}
