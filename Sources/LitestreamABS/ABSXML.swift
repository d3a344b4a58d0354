import Foundation
import LitestreamHTTP
import NIOHTTP1

/// The Blob service's XML: List Blobs pages and `<Error>` bodies read, the Put Block List body written.
enum ABSXML {
    /// One blob of a List Blobs page.
    struct ListedBlob: Sendable, Equatable {
        var name: String
        var size: Int64
        /// `Creation-Time`, Unix milliseconds.
        var creationTime: Int64?
        /// The `litestreamtimestamp` metadata, Unix milliseconds.
        var litestreamTimestamp: Int64?
    }

    /// A List Blobs page: its blobs and the marker of the next one (nil: the last page).
    struct ListPage: Sendable, Equatable {
        var blobs: [ListedBlob] = []
        var nextMarker: String?
    }

    struct Malformed: Error, CustomStringConvertible {
        var what: String
        var description: String { "malformed List Blobs answer: \(what)" }
    }

    /// The metadata name Litestream stores the LTX timestamp under (no hyphen: Azure's names are C# identifiers).
    static let timestampMetadata = "litestreamtimestamp"

    /// An `<EnumerationResults>` body (`include=metadata`).
    static func parseList(_ data: Data) throws -> ListPage {
        guard let root = XMLTree.parse(data), root.name == "EnumerationResults" else {
            throw Malformed(what: "no EnumerationResults")
        }
        var page = ListPage()
        for blob in root.child("Blobs")?.all("Blob") ?? [] {
            guard let name = blob.string("Name") else { throw Malformed(what: "a Blob without a Name") }
            let properties = blob.child("Properties")
            // Metadata names are case-insensitive.
            let timestamp = blob.child("Metadata")?.children.first { $0.name.lowercased() == timestampMetadata }
            page.blobs.append(ListedBlob(
                name: name, size: properties?.string("Content-Length").flatMap { Int64($0) } ?? 0,
                creationTime: properties?.string("Creation-Time").flatMap(parseHTTPDate),
                litestreamTimestamp: timestamp.flatMap { RFC3339Timestamp.parse($0.text) }))
        }
        if let marker = root.string("NextMarker"), !marker.isEmpty { page.nextMarker = marker }
        return page
    }

    /// An `<Error>` body's code and message.
    static func parseError(_ data: Data) -> (code: String, message: String)? {
        guard let root = XMLTree.parse(data), root.name == "Error", let code = root.string("Code") else { return nil }
        return (code, root.string("Message") ?? "")
    }

    /// The Put Block List body: every block from the uncommitted list, in order.
    static func blockList(_ ids: [String]) -> Data {
        var s = #"<?xml version="1.0" encoding="utf-8"?><BlockList>"#
        for id in ids { s += "<Latest>\(id)</Latest>" }  // base64: nothing to escape
        return Data((s + "</BlockList>").utf8)
    }

    /// An RFC 1123 date (`Tue, 02 Jan 2024 03:04:05 GMT`), Unix milliseconds.
    static func parseHTTPDate(_ s: String) -> Int64? {
        let parts = s.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, let day = Int(parts[1]), let month = months.firstIndex(of: String(parts[2])),
            let year = Int(parts[3])
        else { return nil }
        let hms = parts[4].split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3 else { return nil }
        var tm = tm()
        tm.tm_year = Int32(year - 1900)
        tm.tm_mon = Int32(month)
        tm.tm_mday = Int32(day)
        tm.tm_hour = Int32(hms[0])
        tm.tm_min = Int32(hms[1])
        tm.tm_sec = Int32(hms[2])
        return Int64(timegm(&tm)) * 1000
    }
}
