import Crypto
import Foundation

@testable import LitestreamNATS

/// A NATS operator set-up for JWT logins, made by the test: an operator, a system account, an account with
/// JetStream and a user, each an Ed25519 key, and their JWTs (`ed25519-nkey`, signed by the issuer: the operator
/// signs the accounts, the account signs the user) as `nsc` would make them. nats-server trusts the operator and
/// gets the accounts preloaded (`resolver: MEMORY`).
struct NATSOperatorSetup {
    let operatorJWT: String
    let accounts: [(publicKey: String, jwt: String)]
    let systemAccount: String
    let userJWT: String
    /// `SU…`.
    let userSeed: String

    static let operatorPrefix: UInt8 = 14 << 3
    static let accountPrefix: UInt8 = 0

    init() throws {
        let op = Curve25519.Signing.PrivateKey()
        let account = Curve25519.Signing.PrivateKey()
        let system = Curve25519.Signing.PrivateKey()
        let user = Curve25519.Signing.PrivateKey()
        let opKey = Self.publicKey(op, Self.operatorPrefix)
        let accountKey = Self.publicKey(account, Self.accountPrefix)
        let systemKey = Self.publicKey(system, Self.accountPrefix)
        let userKey = Self.publicKey(user, NKey.userPrefix)
        let unlimited: [String: Any] = ["subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1]
        var withJetStream = unlimited
        for k in ["mem_storage", "disk_storage", "streams", "consumer"] { withJetStream[k] = -1 }
        operatorJWT = try Self.jwt(["iss": opKey, "sub": opKey, "name": "op", "nats": ["type": "operator", "version": 2]], signer: op)
        let accountJWT = try Self.jwt(["iss": opKey, "sub": accountKey, "name": "acc",
            "nats": ["limits": withJetStream, "default_permissions": ["pub": [:], "sub": [:]], "type": "account", "version": 2]], signer: op)
        let systemJWT = try Self.jwt(["iss": opKey, "sub": systemKey, "name": "SYS",
            "nats": ["limits": unlimited, "type": "account", "version": 2]], signer: op)
        accounts = [(accountKey, accountJWT), (systemKey, systemJWT)]
        systemAccount = systemKey
        userJWT = try Self.jwt(["iss": accountKey, "sub": userKey, "name": "litestream",
            "nats": ["pub": [:], "sub": [:], "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2]], signer: account)
        let typeByte = NKey.userPrefix
        userSeed = NKey.encode(prefix: [NKey.seedPrefix | (typeByte >> 5), (typeByte & 31) << 3], payload: Array(user.rawRepresentation))
    }

    static func publicKey(_ key: Curve25519.Signing.PrivateKey, _ prefix: UInt8) -> String {
        NKey.encode(prefix: [prefix], payload: Array(key.publicKey.rawRepresentation))
    }

    static func jwt(_ claims: [String: Any], signer: Curve25519.Signing.PrivateKey) throws -> String {
        var c = claims
        c["iat"] = Int(Date().timeIntervalSince1970)
        c["jti"] = UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let header = Base64URL.encode(Array(#"{"typ":"JWT","alg":"ed25519-nkey"}"#.utf8), padding: false)
        let payload = Base64URL.encode(Array(try JSONSerialization.data(withJSONObject: c, options: [.sortedKeys])), padding: false)
        let signature = try signer.signature(for: Data("\(header).\(payload)".utf8))
        return "\(header).\(payload).\(Base64URL.encode(Array(signature), padding: false))"
    }

    /// The server configuration's trust section.
    var serverConfiguration: String {
        let preload = accounts.map { "\($0.publicKey): \"\($0.jwt)\"" }.joined(separator: ", ")
        return "operator: \"\(operatorJWT)\"\nresolver: MEMORY\nsystem_account: \(systemAccount)\nresolver_preload: { \(preload) }"
    }

    /// A credentials file as `nsc` writes it.
    var credsFile: String {
        """
        -----BEGIN NATS USER JWT-----
        \(userJWT)
        ------END NATS USER JWT------

        ************************* IMPORTANT *************************
        NKEY Seed printed below can be used to sign and prove identity.
        NKEYs are sensitive and should be treated as secrets.

        -----BEGIN USER NKEY SEED-----
        \(userSeed)
        ------END USER NKEY SEED------

        *************************************************************

        """
    }
}
