import Foundation
import LitestreamClient
import LitestreamCore
import LitestreamHTTP
import NIOHTTP1

/// Writing an object from an open file: one multipart request (metadata and media together) up to
/// ``GCSClient/chunkSize``, a resumable upload of chunks beyond it. Either way the body streams from the file, so
/// memory stays at a buffer whatever the size, and the object appears whole or not at all.
extension GCSClient {
    /// What to write: the object's name, its custom metadata, and whether it must not exist yet
    /// (`ifGenerationMatch=0`: a level-0 file is never written over another writer's).
    struct Upload: Sendable {
        var name: String
        var metadata: [String: String]
        var exclusive: Bool
    }

    /// Uploads `size` bytes of the open file `fd`. Throws ``GCSError`` `.preconditionFailed` when `exclusive` and
    /// the object exists, unless a retry finds an object of our size there (our own earlier try, its answer lost).
    func upload(_ upload: Upload, descriptor fd: Int32, path: String, size: Int64) async throws {
        let r: Response
        if size <= Int64(chunkSize) {
            r = try await multipart(upload, descriptor: fd, path: path, size: size)
        } else {
            r = try await resumable(upload, descriptor: fd, path: path, size: size)
        }
        if (200..<300).contains(r.status) { return }
        if r.status == 412 && upload.exclusive && r.attempt > 0, try await storedSize(upload.name) == size { return }
        throw failure(r, operation: "upload", object: upload.name)
    }

    /// The object resource's JSON: its name and custom metadata.
    static func resourceJSON(_ upload: Upload) -> Data {
        let resource: [String: Any] = ["name": upload.name, "metadata": upload.metadata]
        return (try? JSONSerialization.data(withJSONObject: resource, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
    }

    private func query(_ type: String, _ upload: Upload) -> String {
        "?uploadType=\(type)" + (upload.exclusive ? "&ifGenerationMatch=0" : "")
    }

    /// `uploadType=multipart`: `multipart/related`, the resource's JSON then the media, in one request.
    private func multipart(_ upload: Upload, descriptor fd: Int32, path: String, size: Int64) async throws -> Response {
        let boundary = "litestream-" + UUID().uuidString
        let prefix = Array("--\(boundary)\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".utf8)
            + Array(Self.resourceJSON(upload))
            + Array("\r\n--\(boundary)\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
        let suffix = Array("\r\n--\(boundary)--\r\n".utf8)
        return try await send(
            .POST, uploadURL + query("multipart", upload), operation: "upload", object: upload.name, kind: .put,
            body: .file(descriptor: fd, path: path, offset: 0, count: size, prefix: prefix, suffix: suffix,
                contentType: "multipart/related; boundary=\(boundary)"))
    }

    /// `uploadType=resumable`: a session is started with the resource's JSON, then the media goes in chunks, each
    /// answered with how much the server holds (308 and `Range: bytes=0-<last>`). A chunk that got no answer is
    /// followed by a status query (`Content-Range: bytes */<size>`) and the upload goes on from what the server
    /// has; an answer that makes no sense (a session gone, an offset the server disowns) starts a new session.
    private func resumable(_ upload: Upload, descriptor fd: Int32, path: String, size: Int64) async throws -> Response {
        var sessions = 0
        while true {
            sessions += 1
            let start = try await send(
                .POST, uploadURL + query("resumable", upload), operation: "upload", object: upload.name, kind: .put,
                headers: [("x-upload-content-type", "application/octet-stream"), ("x-upload-content-length", "\(size)")],
                body: .data(Self.resourceJSON(upload), contentType: "application/json; charset=UTF-8"))
            guard (200..<300).contains(start.status) else { return start }
            guard let session = start.headers.first(name: "location") else {
                throw GCSError(.malformedResponse,
                    "gs upload gs://\(bucket)/\(upload.name): the resumable upload started without a Location")
            }
            if let done = try await sendChunks(session, upload, descriptor: fd, path: path, size: size) { return done }
            if sessions >= maxAttempts {
                throw GCSError(.malformedResponse,
                    "gs upload gs://\(bucket)/\(upload.name): \(sessions) resumable sessions failed")
            }
            try await Task.sleep(for: backoff.delay(attempt: sessions - 1))
        }
    }

    /// The chunks of one session: the final answer, or nil when the session must be started over.
    private func sendChunks(
        _ session: String, _ upload: Upload, descriptor fd: Int32, path: String, size: Int64
    ) async throws -> Response? {
        var offset: Int64 = 0
        var failures = 0
        while true {
            let count = min(Int64(chunkSize), size - offset)
            let answer: Response
            do {
                answer = try await send(
                    .PUT, session, operation: "upload", object: upload.name, kind: .put,
                    headers: [("content-range", "bytes \(offset)-\(offset + count - 1)/\(size)")],
                    body: .file(descriptor: fd, path: path, offset: offset, count: count, prefix: [], suffix: [],
                        contentType: "application/octet-stream"),
                    attempts: 1)
            } catch let e as GCSError where e.isTransient {
                // No answer, or a 5xx: ask what the server holds.
                failures += 1
                if failures >= maxAttempts { throw e }
                try await Task.sleep(for: backoff.delay(attempt: failures - 1))
                let status = try await send(
                    .PUT, session, operation: "upload", object: upload.name, kind: .put,
                    headers: [("content-range", "bytes */\(size)")])
                if (200..<300).contains(status.status) { return status }
                guard status.status == 308, let held = Self.persisted(status), held <= offset + count else { return nil }
                offset = held
                continue
            }
            if (200..<300).contains(answer.status) { return answer }
            guard answer.status == 308, let held = Self.persisted(answer), held > offset, held <= size else {
                // 404/410: the session expired; 400: an offset the server disowns; 412 and others: final.
                if [400, 404, 410].contains(answer.status) { return nil }
                return answer
            }
            offset = held
        }
    }

    /// How many bytes a 308 says the server holds: `Range: bytes=0-<last>` is last + 1, no `Range` is none.
    static func persisted(_ r: Response) -> Int64? {
        guard let range = r.headers.first(name: "range") else { return 0 }
        guard let last = range.split(separator: "-").last.flatMap({ Int64($0) }) else { return nil }
        return last + 1
    }

    /// The size of a stored object (its metadata), nil when there is none.
    func storedSize(_ name: String) async throws -> Int64? {
        let r = try await send(.GET, objectURL(name), operation: "get", object: name, kind: .head)
        guard r.status == 200 else { return nil }
        let fields = (try? JSONSerialization.jsonObject(with: r.body)) as? [String: Any]
        return (fields?["size"]).flatMap(GCSObjectList.integer)
    }
}
