import Crypto
import Foundation
import LitestreamCore
import LitestreamHTTP
import NIOCore
import SystemPackage

/// A JetStream object store bucket, written and read as nats.go's `jetstream.ObjectStore` does (v1.44, the one
/// Litestream 0.5.17 links), so that each tool reads what the other writes:
///
/// - the bucket is the stream `OBJ_<bucket>` with subjects `$O.<bucket>.C.>` (chunks) and `$O.<bucket>.M.>` (meta);
/// - an object is its chunks (at most ``chunkSize`` bytes each) on `$O.<bucket>.C.<nuid>`, a new NUID per write,
///   then its meta record (``NATSObjectInfo``) on `$O.<bucket>.M.<base64url(name)>` with `Nats-Rollup: sub`, which
///   replaces the record before it; the chunks of the object it replaced are purged after;
/// - deleting publishes the record again with `deleted: true` (size, chunks and digest cleared), then purges the
///   chunks;
/// - listing reads the newest record of every name (an ephemeral consumer with `last_per_subject`).
///
/// Memory stays bounded: a write reads its file a chunk at a time, with at most ``window`` chunks awaiting their
/// acknowledgement; a read fetches one chunk per request (`STREAM.MSG.GET` with `next_by_subj`) into a file.
struct NATSObjectStore: Sendable {
    let bucket: String
    let api: JetStreamAPI
    /// nats.go's default chunk size, 128 KiB.
    static let chunkSize = 128 * 1024
    /// Chunks published and not yet acknowledged, at most.
    var window = 8

    var connection: NATSConnection { api.connection }
    var stream: String { "OBJ_\(bucket)" }
    var endpoint: String { connection.endpoint }

    init(bucket: String, connection: NATSConnection) {
        self.bucket = bucket
        self.api = JetStreamAPI(connection: connection)
    }

    func metaSubject(_ name: String) -> String { "$O.\(bucket).M.\(Base64URL.encode(Array(name.utf8), padding: true))" }
    func chunkSubject(_ nuid: String) -> String { "$O.\(bucket).C.\(nuid)" }

    // MARK: The bucket

    /// Checks that the bucket's stream exists: ``NATSError/Code/bucketNotFound`` names it and how to create it.
    func checkBucket() async throws {
        do {
            _ = try await api.streamInfo(stream)
        } catch let e as NATSError where e.code == .apiError && e.apiCode == 404 {
            throw NATSError(.bucketNotFound,
                "object store bucket \"\(bucket)\" does not exist on \(endpoint) (bucket must be created beforehand, as for Litestream: nats object add \(bucket))")
        }
    }

    /// The stream configuration nats.go's `CreateObjectStore` makes (file storage, one replica, no limits). Used by
    /// the tests: the replica never creates its bucket, as Litestream does not.
    func createBucket() async throws {
        struct Config: Encodable {
            var name: String
            var subjects: [String]
            var retention = "limits"
            var maxConsumers = -1
            var maxMsgs = -1
            var maxBytes = -1
            var discard = "new"
            var maxAge = 0
            var maxMsgsPerSubject = -1
            var maxMsgSize = -1
            var storage = "file"
            var numReplicas = 1
            var duplicateWindow: Int64 = 120_000_000_000
            var allowRollupHdrs = true
            var allowDirect = true
            enum CodingKeys: String, CodingKey {
                case name, subjects, retention, maxConsumers = "max_consumers", maxMsgs = "max_msgs", maxBytes = "max_bytes"
                case discard, maxAge = "max_age", maxMsgsPerSubject = "max_msgs_per_subject", maxMsgSize = "max_msg_size"
                case storage, numReplicas = "num_replicas", duplicateWindow = "duplicate_window"
                case allowRollupHdrs = "allow_rollup_hdrs", allowDirect = "allow_direct"
            }
        }
        let config = Config(name: stream, subjects: ["$O.\(bucket).C.>", "$O.\(bucket).M.>"])
        _ = try await api.call("STREAM.CREATE.\(stream)", json: config, as: JetStreamAPI.StreamInfo.self)
    }

    // MARK: Objects

    /// The newest meta record of `name` and its time (the message's, Unix ms); nil when there is none, or when it
    /// is a deletion marker and `showDeleted` is false.
    func info(_ name: String, showDeleted: Bool = false) async throws -> (info: NATSObjectInfo, modTime: Int64)? {
        guard let m = try await getMeta(.init(lastBySubj: metaSubject(name))) else { return nil }
        if m.info.isDeleted && !showDeleted { return nil }
        return m
    }

    private func getMeta(_ request: JetStreamAPI.MsgGetRequest) async throws -> (info: NATSObjectInfo, modTime: Int64)? {
        guard let stored = try await api.getMessage(stream, request) else { return nil }
        let info: NATSObjectInfo
        do {
            info = try JSONDecoder().decode(NATSObjectInfo.self, from: Data(stored.message.payload))
        } catch {
            throw NATSError(.protocolViolation, "the meta record \(stored.message.subject) in bucket \(bucket) is not an object's info", cause: error)
        }
        return (info, RFC3339Timestamp.parse(stored.message.time) ?? 0)
    }

    /// Writes `size` bytes of `fd` (from offset 0) as object `name` with `headers`; returns the record written.
    ///
    /// `exclusive`: an object already there under the name is another writer's (``ReplicaError`` `.fileExists`),
    /// unless this is a `retry` and it has our size: our own earlier write, stored but its answer lost.
    func put(
        name: String, headers: [String: [String]], from fd: SystemPackage.FileDescriptor, size: Int64, exclusive: Bool = false,
        retry: Bool = false
    ) async throws -> NATSObjectInfo {
        let existing = try await self.info(name, showDeleted: true)
        if exclusive, let old = existing?.info, !old.isDeleted {
            if retry && old.size == UInt64(size) { return old }
            throw ReplicaError(.fileExists, "\(name) already exists in bucket \(bucket) on \(endpoint): another process writes to this replica")
        }
        let nuid = NUID.next()
        let chunks = chunkSubject(nuid)
        var hash = SHA256()
        var count: UInt32 = 0
        var offset: Int64 = 0
        var pending: [EventLoopFuture<NATSMessage>] = []
        var recordSent = false
        do {
            while offset < size {
                let n = Int(min(Int64(Self.chunkSize), size - offset))
                var chunk = [UInt8](repeating: 0, count: n)
                try chunk.withUnsafeMutableBytes { space in
                    var got = 0
                    while got < n {
                        let r = try fd.read(fromAbsoluteOffset: offset + Int64(got), into: UnsafeMutableRawBufferPointer(rebasing: space[got...]))
                        guard r > 0 else { throw NATSError(.protocolViolation, "the local file for \(name) ended early (\(offset + Int64(got)) of \(size) bytes)") }
                        got += r
                    }
                }
                hash.update(data: chunk)
                pending.append(connection.requestFuture(chunks, payload: chunk))
                if pending.count >= window { try acknowledged(await pending.removeFirst().get(), what: chunks) }
                offset += Int64(n)
                count += 1
            }
            for f in pending { try acknowledged(try await f.get(), what: chunks) }
            pending = []
            let digest = "SHA-256=" + Base64URL.encode(Array(hash.finalize()), padding: true)
            let record = NATSObjectInfo(name: name, headers: headers.isEmpty ? nil : headers,
                options: .init(maxChunkSize: UInt32(Self.chunkSize)), bucket: bucket, nuid: nuid, size: UInt64(size),
                chunks: count, digest: digest)
            recordSent = true
            try await publishMeta(record)
            if let old = existing?.info, !old.isDeleted {
                try? await api.purge(stream, subject: chunkSubject(old.nuid))
            }
            return record
        } catch {
            // Chunks without a record are invisible; purge them where the connection still allows. Once the record
            // was sent it may be stored (its answer lost): its chunks stay, or it would point at nothing.
            for f in pending { _ = try? await f.get() }
            if !recordSent && connection.isActive { try? await api.purge(stream, subject: chunks) }
            throw error
        }
    }

    private func publishMeta(_ record: NATSObjectInfo) async throws {
        let subject = metaSubject(record.name)
        let ack = try await connection.request(subject, payload: Array(record.json.utf8), headers: [("Nats-Rollup", "sub")])
        try acknowledged(ack, what: subject)
    }

    private func acknowledged(_ reply: NATSMessage, what subject: String) throws {
        do {
            _ = try JetStreamAPI.decode(reply, as: JetStreamAPI.PubAck.self, what: "a publish to \(subject)", endpoint: endpoint)
        } catch let e as NATSError where e.code == .jetStreamUnavailable {
            // No stream takes the subject: the bucket is gone (or was never made).
            throw NATSError(.bucketNotFound, "object store bucket \"\(bucket)\" does not exist on \(endpoint) (no stream took \(subject))", cause: e)
        }
    }

    /// Where a read stopped: the next chunk follows stream sequence `lastSeq`; `written` bytes are in the file.
    struct ReadProgress: Sendable {
        var info: NATSObjectInfo?
        var lastSeq: UInt64 = 0
        var written: Int64 = 0
        var chunks: UInt32 = 0
        var hash = SHA256()
    }

    /// Reads object `name` into `fd` at offset 0, one chunk per request, going on from `progress` (a read cut by a
    /// lost connection is resumed by calling again with the same progress). Checks size and SHA-256 at the end.
    func get(name: String, into fd: SystemPackage.FileDescriptor, progress: inout ReadProgress) async throws {
        if progress.info == nil {
            guard let found = try await self.info(name) else {
                throw NATSError(.objectNotFound, "object \(name) not found in bucket \(bucket) on \(endpoint)")
            }
            let info = found.info
            guard info.options?.link == nil else {
                throw NATSError(.apiError, "object \(name) in bucket \(bucket) is a link; links are not followed")
            }
            progress.info = info
        }
        let info = progress.info!
        let subject = chunkSubject(info.nuid)
        while progress.chunks < info.chunks {
            let request = JetStreamAPI.MsgGetRequest(seq: progress.lastSeq + 1, nextBySubj: subject)
            guard let stored = try await api.getMessage(stream, request) else {
                throw NATSError(.objectNotFound, "object \(name) in bucket \(bucket) lost its chunks while being read (replaced or deleted meanwhile)")
            }
            let data = stored.message.payload
            try data.withUnsafeBytes { _ = try fd.writeAll(toAbsoluteOffset: progress.written, $0) }
            progress.hash.update(data: data)
            progress.written += Int64(data.count)
            progress.lastSeq = stored.message.seq
            progress.chunks += 1
        }
        guard progress.written == Int64(info.size) else {
            throw NATSError(.digestMismatch, "object \(name) in bucket \(bucket) has \(progress.written) bytes in its chunks, its record says \(info.size)")
        }
        if let digest = info.digest, let eq = digest.firstIndex(of: "=") {
            let expected = Base64URL.decode(String(digest[digest.index(after: eq)...]))
            guard expected == Array(progress.hash.finalize()) else {
                throw NATSError(.digestMismatch, "object \(name) in bucket \(bucket) does not match its SHA-256 digest")
            }
        }
    }

    /// Every object's newest record with its time (Unix ms), deletion markers left out.
    func list() async throws -> [(info: NATSObjectInfo, modTime: Int64)] {
        let deliver = "_INBOX.\(NUID.next())"
        let (sid, messages) = try await connection.subscribe(deliver)
        defer { connection.unsubscribe(sid: sid) }
        struct Create: Encodable {
            struct Config: Encodable {
                var deliverSubject: String
                var deliverPolicy = "last_per_subject"
                var ackPolicy = "none"
                var filterSubject: String
                var replayPolicy = "instant"
                var memStorage = true
                var numReplicas = 1
                var inactiveThreshold: Int64 = 300_000_000_000
                enum CodingKeys: String, CodingKey {
                    case deliverSubject = "deliver_subject", deliverPolicy = "deliver_policy", ackPolicy = "ack_policy"
                    case filterSubject = "filter_subject", replayPolicy = "replay_policy", memStorage = "mem_storage"
                    case numReplicas = "num_replicas", inactiveThreshold = "inactive_threshold"
                }
            }
            var streamName: String
            var config: Config
            enum CodingKeys: String, CodingKey { case streamName = "stream_name", config }
        }
        let request = Create(streamName: stream, config: .init(deliverSubject: deliver, filterSubject: "$O.\(bucket).M.>"))
        let consumer: JetStreamAPI.ConsumerInfo
        do {
            consumer = try await api.call("CONSUMER.CREATE.\(stream)", json: request, as: JetStreamAPI.ConsumerInfo.self)
        } catch let e as NATSError where e.code == .apiError && e.apiCode == 404 {
            throw NATSError(.bucketNotFound, "object store bucket \"\(bucket)\" does not exist on \(endpoint)", cause: e)
        }
        var out: [(info: NATSObjectInfo, modTime: Int64)] = []
        do {
            if consumer.numPending ?? 0 > 0 {
                out = try await collect(messages, timeout: connection.timeout * 3)
            }
        } catch {
            _ = try? await api.call("CONSUMER.DELETE.\(stream).\(consumer.name)", [], as: JetStreamAPI.DeleteResponse.self)
            throw error
        }
        _ = try? await api.call("CONSUMER.DELETE.\(stream).\(consumer.name)", [], as: JetStreamAPI.DeleteResponse.self)
        return out
    }

    /// Reads delivered meta records until one says nothing is pending; fails after `timeout` without progress.
    private func collect(
        _ messages: AsyncThrowingStream<NATSMessage, any Error>, timeout: Duration
    ) async throws -> [(info: NATSObjectInfo, modTime: Int64)] {
        let (bucket, endpoint) = (bucket, endpoint)
        return try await withThrowingTaskGroup(of: [(info: NATSObjectInfo, modTime: Int64)]?.self) { group in
            group.addTask {
                var out: [(info: NATSObjectInfo, modTime: Int64)] = []
                for try await m in messages {
                    guard m.status == nil, let reply = m.replyTo else { continue }  // heartbeats, flow control
                    let (pending, time) = Self.ackMetadata(reply)
                    let info = try JSONDecoder().decode(NATSObjectInfo.self, from: Data(m.payload.readableBytesView))
                    if !info.isDeleted { out.append((info, time)) }
                    if pending == 0 { return out }
                }
                throw NATSError(.connectionLost, "the listing of bucket \(bucket) on \(endpoint) ended early")
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw NATSError(.timedOut, "the listing of bucket \(bucket) on \(endpoint) stalled for \(timeout)")
            }
            return result
        }
    }

    /// The pending count and timestamp (Unix ms) of a JetStream delivery's reply subject:
    /// `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>`, or the form with a domain and an
    /// account hash after `$JS.ACK` (and a token at the end).
    static func ackMetadata(_ reply: String) -> (pending: UInt64, time: Int64) {
        let t = reply.split(separator: ".", omittingEmptySubsequences: false)
        let (timeIndex, pendingIndex) = t.count == 9 ? (7, 8) : (9, 10)
        guard t.count > pendingIndex, let ns = Int64(t[timeIndex]), let pending = UInt64(t[pendingIndex]) else {
            return (0, 0)
        }
        return (pending, ns / 1_000_000)
    }

    /// Marks `name` deleted and purges its chunks, as nats.go's `Delete`; nothing when it is missing or already
    /// deleted.
    func delete(name: String) async throws {
        guard let current = try await self.info(name, showDeleted: true)?.info, !current.isDeleted else { return }
        var marker = current
        marker.deleted = true
        marker.size = 0
        marker.chunks = 0
        marker.digest = nil
        try await publishMeta(marker)
        try await api.purge(stream, subject: chunkSubject(current.nuid))
    }
}
