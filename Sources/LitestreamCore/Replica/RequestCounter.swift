package import LitestreamClient
import Synchronization

/// Counts a replica client's requests by kind as they are sent; shared by every copy of the client, so that the
/// replicator's uploader, its maintenance and the status all see one count.
package final class RequestCounter: Sendable {
    private let counts = Mutex(RequestCounts())

    package init() {}

    /// One request of `kind` is being sent.
    package func count(_ kind: RequestCounts.Kind) {
        counts.withLock { $0[kind] += 1 }
    }

    /// The counts so far.
    package var snapshot: RequestCounts { counts.withLock { $0 } }
}
