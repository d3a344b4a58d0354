import Foundation
import Litestream

/// Turns a replica URL or path into a client. `file:///dir` and plain paths are directory replicas.
enum ReplicaURL {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    static func isURL(_ s: String) -> Bool { s.contains("://") }

    /// - Parameter exactTimestamps: for S3 and OSS, read each file's creation time from its metadata (one request per
    ///   file) rather than the listing's LastModified: for point-in-time restores by timestamp. (WebDAV has only
    ///   the server's modification time, which its listing gives.)
    static func client(_ url: String, exactTimestamps: Bool = false) throws -> any ReplicaClient {
        // An empty path would be the working directory: a replica written there, or a restore finding nothing in it.
        guard !url.allSatisfy(\.isWhitespace) else {
            throw Invalid(description: "the replica URL is empty; give one such as s3://bucket/path or file:///var/backups/db (or a directory path)")
        }
        guard isURL(url) else { return FileReplicaClient(path: url) }
        let scheme = url.prefix { $0 != ":" }.lowercased()
        let rest = url.dropFirst(scheme.count + 3)
        switch scheme {
        case "file":
            let path = String(rest.prefix { $0 != "?" && $0 != "#" })
            guard path.hasPrefix("/") else {
                throw Invalid(description: "invalid replica URL \(redacted(url)): a file URL needs an absolute path, as in file:///var/backups/db")
            }
            return FileReplicaClient(path: path.removingPercentEncodingIfNeeded())
        case "s3":
            do {
                var client = try S3ReplicaClient(url: url)
                client.timestampsFromMetadata = exactTimestamps
                return client
            } catch let e as S3Configuration.Invalid {
                throw Invalid(description: e.description)
            }
        case "sftp":
            do {
                return try SFTPReplicaClient(url: url)
            } catch let e as SFTPConfiguration.Invalid {
                throw Invalid(description: e.description)
            }
        case "webdav", "webdavs":
            do {
                return try WebDAVReplicaClient(url: url)
            } catch let e as WebDAVConfiguration.Invalid {
                throw Invalid(description: e.description)
            }
        case "nats":
            do {
                return try NATSReplicaClient(url: url)
            } catch let e as NATSConfiguration.Invalid {
                throw Invalid(description: e.description)
            }
        case "abs":
            do {
                return try ABSReplicaClient(url: url)
            } catch let e as ABSConfiguration.Invalid {
                throw Invalid(description: e.description)
            }
        case "oss":
            do {
                var client = try OSSReplicaClient(url: url)
                client.timestampsFromMetadata = exactTimestamps
                return client
            } catch let e as OSSConfiguration.Invalid {
                throw Invalid(description: e.description)
            }
        case "gs":
            do {
                return try GCSReplicaClient(url: url)
            } catch let e as GCSConfiguration.Invalid {
                throw Invalid(description: e.description)
            }
        default:
            throw Invalid(description: "unknown replica URL scheme \"\(scheme)\" in \(redacted(url))")
        }
    }

    /// Drops any user:password part so that URLs can be printed.
    static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let afterScheme = url[schemeEnd.upperBound...]
        let hostEnd = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
        guard let at = afterScheme[..<hostEnd].lastIndex(of: "@") else { return url }
        return String(url[..<schemeEnd.upperBound]) + "REDACTED@" + afterScheme[afterScheme.index(after: at)...]
    }
}

extension String {
    func removingPercentEncodingIfNeeded() -> String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var i = utf8.startIndex
        while i < utf8.endIndex {
            let c = utf8[i]
            if c == UInt8(ascii: "%"), let a = utf8.index(i, offsetBy: 1, limitedBy: utf8.endIndex), a < utf8.endIndex,
                let b = utf8.index(a, offsetBy: 1, limitedBy: utf8.endIndex), b < utf8.endIndex,
                let v = UInt8(String(decoding: [utf8[a], utf8[b]], as: UTF8.self), radix: 16)
            {
                bytes.append(v)
                i = utf8.index(after: b)
            } else {
                bytes.append(c)
                i = utf8.index(after: i)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
