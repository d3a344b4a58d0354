import Foundation
import Testing

extension Integration {
    /// #19.6: the local state and a file replica hold the database's pages, so they are no more readable than a
    /// private database: 0600 files in 0700 directories, as Litestream's.
    @Suite struct PrivateStateTests {
        @Test func localStateAndFileReplicaOfA0600DatabaseAreUnreadableToOthers() async throws {
            let binary = try Implementation.swift.binary()
            let ws = try Workspace("private-state")
            defer { ws.close() }
            chmod(ws.directory.path, 0o755)  // others may reach the database's directory, as /var/lib/app
            try createTestDatabase(ws.dbPath)
            try sqlite3(ws.dbPath, "INSERT INTO t(v) VALUES ('secret');")
            chmod(ws.dbPath, 0o600)
            let result = try await ws.litestream(binary, ["replicate", "-once", "-force-snapshot", ws.dbPath, ws.replicaURL])
            try #require(result.status == 0, "\(describe("replicate -once", result))")

            var ltxFiles: [String] = []
            for root in [ws.path(".app.db-litestream"), ws.replicaDirectory] {
                let below = try FileManager.default.subpathsOfDirectory(atPath: root)
                for path in [root] + below.map({ root + "/" + $0 }) {
                    // FileManager's attributes (lstat: a link is not followed), not `struct stat`, whose members'
                    // defining module differs from one clean build to the next.
                    let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
                    #expect(mode & 0o077 == 0, "\(path) is \(String(mode, radix: 8))")
                    if path.hasSuffix(".ltx") { ltxFiles.append(path) }
                }
            }
            #expect(ltxFiles.contains { $0.contains("/replica/ltx/9/") } && ltxFiles.contains { $0.contains("/ltx/0/") })

            // As another local user, where the machine allows it.
            guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") else { return }
            for file in ltxFiles {
                let read = try await runProcess("/usr/sbin/runuser", ["-u", "nobody", "--", "cat", file])
                #expect(read.status != 0, "user nobody read \(file)")
            }
        }
    }
}
