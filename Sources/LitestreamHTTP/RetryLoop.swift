import Foundation

/// The retry loop of the replica clients that turn answers into their own error type (GCS, WebDAV): an attempt is
/// tried again after a jittered backoff when it failed with a transient error of that type or got no answer at
/// all, until the attempts are used up.
package enum RetryLoop {
    /// Runs `attempt` (given its number, from 0) until it returns, fails for good, or `attempts` are used up.
    ///
    /// - Parameters:
    ///   - isTransient: whether a `Failure` is worth another try; other `Failure`s are thrown at once.
    ///   - isLocal: errors thrown as they are, never retried (a local file that cannot be read or written).
    ///   - connectionFailure: the `Failure` for an attempt that got no answer, given that error and whether
    ///     another try cannot help (``ConnectionFailure/isPermanent(_:)``: an untrusted certificate), which is
    ///     thrown at once.
    /// - Throws: the `Failure` of the last attempt, `CancellationError`, or what `isLocal` accepts.
    package static func run<T, Failure: Error>(
        attempts: Int, backoff: RetryBackoff,
        isTransient: (Failure) -> Bool,
        isLocal: (any Error) -> Bool = { _ in false },
        connectionFailure: (_ error: any Error, _ permanent: Bool) -> Failure,
        _ attempt: (Int) async throws -> T
    ) async throws -> T {
        var n = 0
        while true {
            do {
                return try await attempt(n)
            } catch let e as Failure where isTransient(e) && n + 1 < attempts {
                // fall through to the backoff
            } catch let e as Failure {
                throw e
            } catch let e as CancellationError {
                throw e
            } catch let e as FileRequestBody.ReadFailed {
                throw e
            } catch let e where isLocal(e) {
                throw e
            } catch {
                if Task.isCancelled { throw CancellationError() }
                let permanent = ConnectionFailure.isPermanent(error)
                let failure = connectionFailure(error, permanent)
                if n + 1 >= attempts || permanent { throw failure }
            }
            try await Task.sleep(for: backoff.delay(attempt: n))
            n += 1
        }
    }
}
