import Foundation
import NIOCore

/// JetStream's API, as far as the object store needs it: requests on `$JS.API.…` with a JSON body, answered with
/// JSON that carries either the result or `{"error": {"code", "err_code", "description"}}`.
struct JetStreamAPI: Sendable {
    let connection: NATSConnection

    struct APIError: Decodable, Sendable {
        var code: Int
        var errCode: Int?
        var description: String?
        enum CodingKeys: String, CodingKey { case code, errCode = "err_code", description }
    }

    /// The error of any answer, decoded first.
    private struct ErrorOnly: Decodable { var error: APIError? }

    /// Sends `body` to `$JS.API.<api>` and decodes the answer as `R`; an API error becomes a ``NATSError``
    /// (``NATSError/Code/apiError`` with its status, or ``NATSError/Code/jetStreamUnavailable``).
    func call<R: Decodable>(_ api: String, _ body: [UInt8], as type: R.Type) async throws -> R {
        let reply = try await connection.request("$JS.API." + api, payload: body)
        return try Self.decode(reply, as: R.self, what: "$JS.API.\(api)", endpoint: connection.endpoint)
    }

    func call<R: Decodable>(_ api: String, json: some Encodable, as type: R.Type) async throws -> R {
        try await call(api, Array(try JSONEncoder().encode(json)), as: R.self)
    }

    /// Decodes a JetStream answer (an API answer or a publish acknowledgement).
    static func decode<R: Decodable>(_ reply: NATSMessage, as type: R.Type, what: String, endpoint: String) throws -> R {
        if reply.status == 503 {
            throw NATSError(.jetStreamUnavailable,
                "\(endpoint) has no JetStream responder for \(what): JetStream is not enabled on the server or for this account (start nats-server with -js), or is still starting")
        }
        if let status = reply.status, status >= 400 {
            throw NATSError(.apiError, "\(endpoint) answered \(what) with status \(status) \(reply.statusDescription)", apiCode: status)
        }
        let data = Data(reply.payload.readableBytesView)
        do {
            if let e = try JSONDecoder().decode(ErrorOnly.self, from: data).error {
                let text = e.description ?? "error \(e.code)"
                if e.code == 503 {
                    throw NATSError(.jetStreamUnavailable, "\(endpoint) answered \(what): \(text) (JetStream not enabled for the account, or not ready)", apiCode: e.code)
                }
                throw NATSError(.apiError, "\(endpoint) answered \(what): \(text) (code \(e.code), err_code \(e.errCode ?? 0))", apiCode: e.code)
            }
            return try JSONDecoder().decode(R.self, from: data)
        } catch let e as NATSError {
            throw e
        } catch {
            throw NATSError(.protocolViolation, "\(endpoint) answered \(what) with JSON that does not parse: \(String(decoding: data.prefix(200), as: UTF8.self))", cause: error)
        }
    }

    // MARK: Answers

    struct StreamInfo: Decodable, Sendable {
        struct Config: Decodable, Sendable {
            var name: String
            var subjects: [String]?
            var allowRollupHdrs: Bool?
            enum CodingKeys: String, CodingKey { case name, subjects, allowRollupHdrs = "allow_rollup_hdrs" }
        }
        var config: Config
    }

    struct StoredMessage: Decodable, Sendable {
        struct Inner: Decodable, Sendable {
            var subject: String
            var seq: UInt64
            var hdrs: String?
            var data: String?
            var time: String
        }
        var message: Inner
    }

    struct PubAck: Decodable, Sendable {
        var stream: String
        var seq: UInt64
    }

    struct PurgeResponse: Decodable, Sendable {
        var success: Bool
        var purged: UInt64?
    }

    struct ConsumerInfo: Decodable, Sendable {
        var name: String
        var numPending: UInt64?
        enum CodingKeys: String, CodingKey { case name, numPending = "num_pending" }
    }

    struct DeleteResponse: Decodable, Sendable { var success: Bool }

    // MARK: Requests

    struct MsgGetRequest: Encodable {
        var seq: UInt64?
        var lastBySubj: String?
        var nextBySubj: String?
        enum CodingKeys: String, CodingKey { case seq, lastBySubj = "last_by_subj", nextBySubj = "next_by_subj" }
    }

    func streamInfo(_ stream: String) async throws -> StreamInfo {
        try await call("STREAM.INFO.\(stream)", [], as: StreamInfo.self)
    }

    /// The stored message, or nil when there is none (404).
    func getMessage(_ stream: String, _ request: MsgGetRequest) async throws -> StoredMessage? {
        do {
            return try await call("STREAM.MSG.GET.\(stream)", json: request, as: StoredMessage.self)
        } catch let e as NATSError where e.code == .apiError && e.apiCode == 404 {
            // 404 is also "stream not found" (err_code 10059): that one is the bucket going away.
            if e.message.contains("10059") { throw e }
            return nil
        }
    }

    struct PurgeRequest: Encodable { var filter: String }

    func purge(_ stream: String, subject: String) async throws {
        _ = try await call("STREAM.PURGE.\(stream)", json: PurgeRequest(filter: subject), as: PurgeResponse.self)
    }
}

extension JetStreamAPI.StoredMessage.Inner {
    /// The payload, base64-decoded.
    var payload: [UInt8] { data.flatMap { Data(base64Encoded: $0) }.map(Array.init) ?? [] }
}
