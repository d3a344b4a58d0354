import Foundation

/// Who may see the dashboard: HTTP basic auth with one username and password.
///
/// The dashboard shows database paths, replica locations and errors, so it is never open: without a password
/// it answers 404 (as if it were not mounted) rather than falling back to no authentication.
public struct DashboardCredentials: Sendable, Equatable {
    /// Default `litestream`, as litestream-ruby.
    public var username: String
    /// `nil` or empty: the dashboard is off (404).
    public var password: String?

    public init(username: String = "litestream", password: String?) {
        self.username = username
        self.password = password
    }

    /// `LITESTREAM_USERNAME` (default `litestream`) and `LITESTREAM_PASSWORD` from `environment` (default: the
    /// process's).
    public static func fromEnvironment(
        _ environment: [String: String]? = nil
    ) -> DashboardCredentials {
        let environment = environment ?? ProcessInfo.processInfo.environment
        let username = environment["LITESTREAM_USERNAME"].flatMap { $0.isEmpty ? nil : $0 } ?? "litestream"
        return DashboardCredentials(username: username, password: environment["LITESTREAM_PASSWORD"])
    }

    /// The credentials given in Swift where they are set, the environment's otherwise.
    public func fillingFromEnvironment(
        _ environment: [String: String]? = nil
    ) -> DashboardCredentials {
        guard password?.isEmpty ?? true else { return self }
        var filled = DashboardCredentials.fromEnvironment(environment)
        if username != "litestream" { filled.username = username }
        return filled
    }

    /// What a request with this `Authorization` header gets.
    public enum Decision: Sendable, Equatable {
        /// No password is configured: answer 404.
        case disabled
        /// Missing or wrong credentials: answer 401 with ``DashboardCredentials/challenge``.
        case unauthorized
        case authorized
    }

    /// The `WWW-Authenticate` header of a 401, so that browsers ask for the credentials.
    public static let challenge = #"Basic realm="litestream", charset="UTF-8""#

    /// Checks an `Authorization: Basic …` header value. The comparison takes the same time whatever the given
    /// credentials are (up to their length), so that a network attacker cannot guess them byte by byte.
    public func authorize(authorizationHeader: String?) -> Decision {
        guard let password, !password.isEmpty else { return .disabled }
        guard let header = authorizationHeader?.trimmingCharacters(in: .whitespaces),
              header.count > 6, header.prefix(6).lowercased() == "basic ",
              let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces))
        else { return .unauthorized }
        let given = Array(decoded)
        let expected = Array((username + ":" + password).utf8)
        return Self.constantTimeEqual(given, expected) ? .authorized : .unauthorized
    }

    /// Equal bytes, in a time that depends on the lengths only: every byte of the longer input is looked at, and
    /// the differences are OR-ed together instead of returning at the first one.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt64(a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= UInt64(x ^ y)
        }
        return difference == 0
    }
}
