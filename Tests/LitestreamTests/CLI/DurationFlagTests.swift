import Foundation
import Testing

/// Duration flags with values that are not durations, or out of range, are usage errors (exit 64) that name the
/// flag. They used to trap in the parser ("Overflow in multiplication", "Double value cannot be converted").
@Suite struct DurationFlagTests {
    @Test(arguments: [
        (["replicate", "-min-sync-interval", "99999999999999999h", "/nonexistent/app.db", "file:///nonexistent/replica"],
         "-min-sync-interval 99999999999999999h"),
        (["replicate", "-min-sync-interval=-1s", "/nonexistent/app.db", "file:///nonexistent/replica"],
         "-min-sync-interval -1s"),
        (["restore", "-follow-interval", "3000000h", "-o", "/nonexistent/out.db", "file:///nonexistent/replica"],
         "-follow-interval 3000000h"),
        (["sync", "-timeout", "1e300", "-socket", "/nonexistent.sock"], "-timeout 1e300"),
        (["status", "-max-lag", "inf", "-socket", "/nonexistent.sock"], "-max-lag inf"),
        // #19.9: the value that crashed each flag.
        (["restore", "-f", "-follow-interval", "99999999999999999h", "-o", "/nonexistent/out.db", "file:///nonexistent/replica"],
         "-follow-interval 99999999999999999h"),
        (["sync", "-timeout", "99999999999999999h", "-socket", "/nonexistent.sock"], "-timeout 99999999999999999h"),
        (["status", "-max-lag", "99999999999999999h", "-socket", "/nonexistent.sock"], "-max-lag 99999999999999999h"),
        (["list", "-timeout", "99999999999999999h", "-socket", "/nonexistent.sock"], "-timeout 99999999999999999h"),
    ])
    func invalidValueIsAUsageError(args: [String], named: String) throws {
        let litestream = try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first")
        let result = try TestEnvironment.run(litestream, args, timeout: .seconds(30))
        #expect(result.status == 64, "\(args): \(result.stderr)")
        #expect(result.stderr.contains("invalid \(named): want"), "\(args): \(result.stderr)")
    }
}
