public import AsyncHTTPClient
import Foundation

/// Where and how a Google Cloud Storage replica is stored, with Litestream 0.5.17's settings: `bucket` and `path`,
/// or one `gs://bucket/path` URL; credentials as Litestream's Go client library finds them in the environment.
///
/// Objects are `<path>/ltx/<level>/<min>-<max>.ltx` (the level in decimal), each carrying its LTX timestamp in the
/// custom metadata `litestream-timestamp`, as Litestream's `gs` replica writes them.
public struct GCSConfiguration: Sendable {
    /// The bucket's name.
    public var bucket: String
    /// The objects' prefix as Litestream keeps it (`backups/db`; `.` or empty: the bucket's root). Object names are
    /// joined as Go's `path.Join` does.
    public var path: String
    /// A service account key file: `GOOGLE_APPLICATION_CREDENTIALS`. Read when the client is made.
    public var credentialsFile: String?
    /// An emulator, `host:port` or `http://host:port`: `STORAGE_EMULATOR_HOST`, as Google's client libraries read
    /// it. Requests go there without credentials.
    public var emulatorHost: String?
    /// Another JSON API endpoint, `https://host[:port]`, reached with the service account's token (ours, for a
    /// proxy; not a Litestream setting). Default `https://storage.googleapis.com`.
    public var endpoint: String?
    /// How many times a request is tried in all before a transient failure (no answer, 408, 429, 5xx) is
    /// reported. Default 10.
    public var maxAttempts = 10
    /// The most one request may take, body included. Default 10 minutes.
    public var requestTimeout: Duration = .seconds(600)
    /// Files up to this size are sent in one multipart request; larger ones in a resumable upload of chunks of
    /// this size (a multiple of 256 KiB), so a failure costs at most one chunk again. Default 8 MiB.
    public var chunkSize = 8 << 20
    /// The HTTP client. Default: the process-wide client the S3 and WebDAV replicas use too, never shut down.
    public var httpClient: HTTPClient?

    public init(bucket: String, path: String = "") {
        self.bucket = bucket
        self.path = path
    }

    /// A configuration that cannot work; the description names what to fix.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Reads a `gs://bucket/path` URL as Litestream does: the host is the bucket, the path (percent-decoded,
    /// cleaned, without its leading `/`) the prefix. A query is ignored.
    public static func parse(url: String) throws -> GCSConfiguration {
        guard let r = url.range(of: "://"), url[..<r.lowerBound].lowercased() == "gs" else {
            throw Invalid(description: "not a gs:// URL: \(url)")
        }
        let rest = url[r.upperBound...]
        let hostEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let bucket = String(rest[..<hostEnd])
        guard !bucket.isEmpty else { throw Invalid(description: "bucket required for gs replica URL \(url)") }
        let tail = rest[hostEnd...]
        let pathEnd = tail.firstIndex { $0 == "?" || $0 == "#" } ?? tail.endIndex
        let raw = String(tail[..<pathEnd])
        var path = GCSObjectName.clean(raw.removingPercentEncoding ?? raw)
        if path.hasPrefix("/") { path.removeFirst() }
        return GCSConfiguration(bucket: bucket, path: path)
    }

    /// Takes `GOOGLE_APPLICATION_CREDENTIALS` and `STORAGE_EMULATOR_HOST` from `environment` for what is not set.
    public mutating func applyEnvironment(_ environment: [String: String]) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if credentialsFile == nil { credentialsFile = value("GOOGLE_APPLICATION_CREDENTIALS") }
        if emulatorHost == nil { emulatorHost = value("STORAGE_EMULATOR_HOST") }
    }
}

extension GCSConfiguration: CustomStringConvertible {
    /// The bucket, path and where credentials come from (a file's path, never its contents).
    public var description: String {
        "GCSConfiguration(bucket: \(bucket), path: \(path), credentialsFile: \(credentialsFile ?? "nil"), "
            + "emulatorHost: \(emulatorHost ?? "nil"))"
    }
}
