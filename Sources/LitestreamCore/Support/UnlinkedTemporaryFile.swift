import Foundation
import SystemPackage

extension OpenFile {
    /// A new file in the temporary directory, opened for reading and writing and already unlinked: its data lives
    /// while it is open and nothing is left behind by a crash. For replica clients that stage a body (its length,
    /// retries) or receive a download.
    package static func unlinkedTemporary(prefix: String) throws -> OpenFile {
        let path = FileManager.default.temporaryDirectory.path + "/\(prefix)-\(UUID().uuidString).ltx"
        let file = try OpenFile(path, .readWrite, options: [.create, .exclusiveCreate], permissions: .ownerReadWrite)
        try POSIX.remove(path)
        return file
    }
}

extension OpenFile {
    /// Stages what `write` produces in a new unlinked temporary file, then hands the file and its size to `upload`:
    /// the `writeLTXFile` of replica clients that send a body from a file (its length known up front, a retry
    /// reads it again, memory holds one chunk). Returns the size.
    package static func staged(
        prefix: String, _ write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void,
        upload: (_ file: borrowing OpenFile, _ size: Int64) async throws -> Void
    ) async throws -> Int64 {
        let staged = try unlinkedTemporary(prefix: prefix)
        var size: Int64 = 0
        try write { bytes in
            try staged.write(bytes)
            size += Int64(bytes.count)
        }
        try await upload(staged, size)
        return size
    }

    /// A new unlinked temporary file that `download` fills, rewound to its start: a replica file to read.
    package static func downloaded(
        prefix: String, _ download: (_ file: borrowing OpenFile) async throws -> Void
    ) async throws -> OpenFile {
        let copy = try unlinkedTemporary(prefix: prefix)
        try await download(copy)
        _ = try SystemError.wrap("lseek", copy.path) { try copy.descriptor.seek(offset: 0, from: .start) }
        return copy
    }
}
