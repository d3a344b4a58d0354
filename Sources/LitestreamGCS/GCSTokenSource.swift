import AsyncHTTPClient
import Foundation
import LitestreamHTTP
import NIOCore
import NIOHTTP1

/// OAuth access tokens for a service account: a signed assertion (``GCSJWT``) exchanged at the key file's
/// `token_uri`, cached, and replaced five minutes before it expires. Concurrent callers share one exchange.
actor GCSTokenSource {
    let account: GCSServiceAccount
    private let http: HTTPClient
    private let attempts: Int
    private let backoff: RetryBackoff
    private var cached: (token: String, refreshAt: ContinuousClock.Instant)?
    private var pending: Task<(String, ContinuousClock.Instant), any Error>?

    init(account: GCSServiceAccount, http: HTTPClient, attempts: Int, backoff: RetryBackoff) {
        self.account = account
        self.http = http
        self.attempts = attempts
        self.backoff = backoff
    }

    /// A valid access token: the cached one, or a new one.
    func token() async throws -> String {
        if let cached, ContinuousClock.now < cached.refreshAt { return cached.token }
        let task: Task<(String, ContinuousClock.Instant), any Error>
        if let pending {
            task = pending
        } else {
            let (account, http, attempts, backoff) = (account, http, attempts, backoff)
            task = Task { try await Self.exchange(account: account, http: http, attempts: attempts, backoff: backoff) }
            pending = task
        }
        defer { pending = nil }
        let (token, refreshAt) = try await task.value
        cached = (token, refreshAt)
        return token
    }

    /// Forgets `token` (the server refused it), so the next call exchanges a new assertion.
    func invalidate(_ token: String) {
        if cached?.token == token { cached = nil }
    }

    /// One exchange, retried on transient failures: the token and when to replace it.
    static func exchange(
        account: GCSServiceAccount, http: HTTPClient, attempts: Int, backoff: RetryBackoff
    ) async throws -> (String, ContinuousClock.Instant) {
        var n = 0
        while true {
            do {
                return try await exchangeOnce(account: account, http: http)
            } catch let e as GCSError where e.isTransient && n + 1 < attempts {
                // retried below
            } catch let e as GCSError {
                throw e
            } catch let e as CancellationError {
                throw e
            } catch {
                if Task.isCancelled { throw CancellationError() }
                let wrapped = GCSError(.connectionFailed,
                    "gs: cannot reach the token endpoint \(account.tokenURI): \(ConnectionFailure.describe(error)) "
                        + "(check the network, or the token_uri of the credentials file)",
                    cause: error)
                if n + 1 >= attempts { throw wrapped }
            }
            try await Task.sleep(for: backoff.delay(attempt: n))
            n += 1
        }
    }

    private static func exchangeOnce(account: GCSServiceAccount, http: HTTPClient) async throws -> (String, ContinuousClock.Instant) {
        let started = ContinuousClock.now
        let assertion = try GCSJWT.assertion(for: account, issuedAt: Int64(Date().timeIntervalSince1970))
        var request = HTTPClientRequest(url: account.tokenURI)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: GCSJWT.tokenRequestBody(assertion: assertion)))
        let response = try await http.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1 << 20)
        let status = Int(response.status.code)
        let fields = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        guard status == 200 else {
            let error = (fields?["error"] as? String).map { e in
                e + ((fields?["error_description"] as? String).map { ": \($0)" } ?? "")
            } ?? "HTTP \(status) \(response.status.reasonPhrase)"
            let e = GCSError(.tokenRefused,
                "gs: the token endpoint \(account.tokenURI) refused service account \(account.email) "
                    + "(key \(account.keyID ?? "?")): \(error) (check that the key in GOOGLE_APPLICATION_CREDENTIALS "
                    + "is valid and not deleted, and that the system clock is right)",
                statusCode: status)
            // A 5xx or 429 is the endpoint's trouble, not the key's: tried again.
            throw status >= 500 || status == 429 ? GCSError(.httpStatus, e.message, statusCode: status) : e
        }
        guard let token = fields?["access_token"] as? String, !token.isEmpty else {
            throw GCSError(.malformedResponse,
                "gs: the token endpoint \(account.tokenURI) answered without an access_token", statusCode: status)
        }
        let lifetime = (fields?["expires_in"]).flatMap(GCSObjectList.integer) ?? 3600
        // Replaced 5 minutes early (google-auth: 3 min 45 s), or half-way through a short lifetime.
        let margin = lifetime > 600 ? 300 : lifetime / 2
        return (token, started + .seconds(lifetime - margin))
    }
}
