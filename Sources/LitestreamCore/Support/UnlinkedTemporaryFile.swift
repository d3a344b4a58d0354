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
