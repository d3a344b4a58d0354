/// When the engine checkpoints the WAL itself. The defaults are Litestream 0.5.17's.
public struct CheckpointPolicy: Sendable, Equatable {
    /// Run a PASSIVE checkpoint once the WAL holds this many frames (`min-checkpoint-page-count`). Default 1000.
    public var minPageCount: Int = 1000
    /// Run a PASSIVE checkpoint when something was synced and this long has passed since the last one
    /// (`checkpoint-interval`). Default 1 minute; nil turns it off.
    public var interval: Duration? = .seconds(60)
    /// Emergency: above this many frames run TRUNCATE, which blocks writers briefly but shrinks the file
    /// (`truncate-page-n`). Default 121,359 (about 500 MB at 4 KiB); nil turns it off.
    public var truncatePageCount: Int? = 121_359

    public init() {}

    public enum Action: Sendable, Equatable { case none, passive, truncate }

    /// Decides after a sync. `walFrames` is the number of frames in the current WAL generation.
    public func decide(walFrames: Int, syncedSinceCheckpoint: Bool, sinceLastCheckpoint: Duration) -> Action {
        if let t = truncatePageCount, t > 0, walFrames >= t { return .truncate }
        if minPageCount > 0, walFrames >= minPageCount { return .passive }
        if let interval, syncedSinceCheckpoint, walFrames > 1, sinceLastCheckpoint >= interval { return .passive }
        return .none
    }
}
