public import AsyncHTTPClient
public import Foundation
import LitestreamHTTP

/// Where and how an Azure Blob Storage replica is stored, with Litestream 0.5.17's settings: `account-name`,
/// `account-key`, `sas-token`, `endpoint`, `bucket` (the container) and `path`, or one URL
/// `abs://[account-name@]container/path`.
///
/// Blobs are `<path>/ltx/<level>/<min>-<max>.ltx`, the level in decimal, each with the metadata
/// `litestreamtimestamp` (Azure's metadata names are C# identifiers: no hyphen), as Litestream's `abs` replica
/// writes them. Authentication is a SAS token when one is set (appended to every request's query), else Shared
/// Key with the account key; the key and token come from the environment (`LITESTREAM_AZURE_ACCOUNT_KEY`,
/// `LITESTREAM_AZURE_SAS_TOKEN`) when not configured. (Litestream falls back to Azure AD's default credential
/// chain without either; that is not supported here.)
public struct ABSConfiguration: Sendable {
    /// The storage account (`account-name`, or the URL's user).
    public var accountName: String
    /// The container (Litestream's `bucket`, or the URL's host).
    public var container: String
    /// The blob-name prefix under the container: `backups/db`. Empty or `.`: the blobs go to `ltx/…`.
    public var path: String
    /// `account-key`: base64, as the portal shows it. Never logged, never in an error.
    public var accountKey: String?
    /// `sas-token`: a shared access signature (`sv=…&sig=…`, with or without a leading `?`). Never logged, never in
    /// an error. Wins over the account key, as in Litestream.
    public var sasToken: String?
    /// `endpoint`: the blob service, `https://<account>.blob.core.windows.net` by default. May carry a path, as
    /// an emulator's does (`http://127.0.0.1:10000/devstoreaccount1`).
    public var endpoint: String?
    /// Files up to this size go in one Put Blob; larger ones in blocks of this size (Put Block, Put Block List),
    /// each streamed from a file. Default 8 MiB.
    public var blockSize = 8 << 20
    /// Tries in all before a transient failure (no answer, 408, 429, 500, 502, 503, 504) is reported. Default 10.
    public var maxAttempts = 10
    /// The most one request may take, body included. Default 10 minutes.
    public var requestTimeout: Duration = .seconds(600)
    /// The HTTP client. Default: the process-wide client the other replicas use, never shut down.
    public var httpClient: HTTPClient?

    public init(accountName: String, container: String, path: String = "", accountKey: String? = nil,
                sasToken: String? = nil, endpoint: String? = nil) {
        self.accountName = accountName
        self.container = container
        self.path = path
        self.accountKey = accountKey
        self.sasToken = sasToken
        self.endpoint = endpoint
    }

    /// A configuration that cannot work; the description names what to fix, never a key or token.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Reads `abs://[account-name@]container/path` as Litestream does: the user is the account, the host the
    /// container, the path (cleaned, without its leading `/`) the prefix. A password or query is ignored: keys
    /// and tokens go in the configuration or the environment.
    public static func parse(url: String) throws -> ABSConfiguration {
        guard url.lowercased().hasPrefix("abs://") else {
            throw Invalid(description: "not an abs:// URL: \(Self.redacted(url))")
        }
        var rest = Substring(url.dropFirst(6))
        if let q = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<q] }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        var account = ""
        if let at = authority.lastIndex(of: "@") {
            let user = authority[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            account = URIEncoding.decode(String(user)) ?? String(user)
            authority = authority[authority.index(after: at)...]
        }
        guard !authority.isEmpty else {
            throw Invalid(description: "bucket required for abs replica URL \(Self.redacted(url)) (abs://account@container/path)")
        }
        let rawPath = String(rest[authorityEnd...])
        return ABSConfiguration(
            accountName: account, container: String(authority), path: Self.clean(URIEncoding.decode(rawPath) ?? rawPath))
    }


    package static func clean(_ path: String) -> String {
        path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    /// The URL without its user info or query (which is where credentials would be).
    static func redacted(_ url: String) -> String {
        var s = Substring(url)
        if let q = s.firstIndex(of: "?") { s = s[..<q] }
        guard let r = s.range(of: "://") else { return String(s) }
        let rest = s[r.upperBound...]
        let hostEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<hostEnd].lastIndex(of: "@") else { return String(s) }
        return String(s[..<r.upperBound]) + "REDACTED@" + rest[rest.index(after: at)...]
    }

    /// The credential in force: the configured SAS token, else the configured key, else the environment's token,
    /// else its key (Litestream's order: a SAS token wins over a key).
    func credential(environment env: [String: String]) throws -> ABSCredential {
        func nonEmpty(_ s: String?) -> String? { (s?.isEmpty ?? true) ? nil : s }
        let sas = nonEmpty(sasToken) ?? nonEmpty(env["LITESTREAM_AZURE_SAS_TOKEN"])
        let key = nonEmpty(accountKey) ?? nonEmpty(env["LITESTREAM_AZURE_ACCOUNT_KEY"])
        if let sas {
            return .sas(ABSCredential.Token(query: sas.hasPrefix("?") ? String(sas.dropFirst()) : sas))
        }
        if let key {
            guard !accountName.isEmpty else {
                throw Invalid(description: "account-name required with account-key for abs container \(container)")
            }
            return .sharedKey(try ABSSigner(accountName: accountName, accountKey: key))
        }
        throw Invalid(
            description: "no Azure credentials for abs container \(container): set account-key (or "
                + "LITESTREAM_AZURE_ACCOUNT_KEY) or sas-token (or LITESTREAM_AZURE_SAS_TOKEN); Azure AD credentials "
                + "are not supported here")
    }
}

/// How requests are authorized: Shared Key signing, or a SAS token in the query.
enum ABSCredential: Sendable {
    case sharedKey(ABSSigner)
    case sas(Token)

    /// A SAS token's query string (`sv=…&sig=…`): printed, dumped or mirrored as `<redacted>`.
    struct Token: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        let query: String
        var description: String { "<redacted>" }
        var debugDescription: String { "<redacted>" }
        var customMirror: Mirror { Mirror(self, children: [:]) }
    }
}

extension ABSConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The account, container, path and endpoint; never the key or token.
    public var description: String {
        "ABSConfiguration(account: \(accountName), container: \(container), path: \(path), endpoint: "
            + "\(endpoint.map(Self.redacted) ?? "default"), account-key: \(accountKey == nil ? "nil" : "<redacted>"), "
            + "sas-token: \(sasToken == nil ? "nil" : "<redacted>"))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
