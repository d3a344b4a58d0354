/// What ``ReplicationSupervisor/prepareDatabases()`` did to one database.
public struct PreparedDatabase: Sendable, Equatable {
    public enum Action: String, Sendable {
        /// The file was missing and was restored from a replica.
        case restored
        /// The file was missing and no replica has a backup: the app starts with a new database.
        case noBackup
        /// The file exists: left as it is (apart from WAL mode).
        case exists
    }

    public var path: String
    public var action: Action
    /// The database was switched to WAL mode (it was in another journal mode).
    public var switchedToWAL: Bool

    public init(path: String, action: Action, switchedToWAL: Bool) {
        self.path = path
        self.action = action
        self.switchedToWAL = switchedToWAL
    }
}
