/// The outcome of ``ReplicationSupervisor/verify(_:timeout:)``; `litestream verify` exits 0, 1 or 3 for them.
public enum VerificationResult: Sendable, Equatable, CustomStringConvertible {
    /// The sentinel was restored from the replicas and the restored database passed `integrity_check`.
    case verified
    /// The backup is not usable: the reason says why (replica unreachable, sentinel missing, corrupt restore).
    case failed(reason: String)
    /// Replication lagged past the timeout: nothing is proven either way.
    case inconclusive(reason: String)

    /// `verified`, `failed` or `inconclusive`: a metric label, the JSON of `litestream verify -json`.
    public var name: String {
        switch self {
        case .verified: "verified"
        case .failed: "failed"
        case .inconclusive: "inconclusive"
        }
    }

    public var description: String {
        switch self {
        case .verified: "verified"
        case .failed(let reason): "failed: \(reason)"
        case .inconclusive(let reason): "inconclusive: \(reason)"
        }
    }
}
