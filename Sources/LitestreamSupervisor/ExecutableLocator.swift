import Foundation

/// Finds the `litestream` executable the supervisor runs.
///
/// Order: ``ReplicationSupervisor/Configuration-swift.struct/executablePath``, `LITESTREAM_EXECUTABLE`, a
/// `litestream` next to the app's own executable (where `swift build` puts every executable product of the app's
/// dependencies, so `swift build` then `swift run App` just works, and a deployment copies the two files
/// together), then `PATH`. An explicit setting that does not point at an executable is an error, not a reason to
/// run some other binary.
enum ExecutableLocator {
    static let name = "litestream"

    static func find(configured: String?, environment: [String: String]) throws -> String {
        var looked: [String] = []
        if let configured, !configured.isEmpty {
            guard isExecutable(configured) else {
                throw SupervisorError(
                    .executableNotFound,
                    "executablePath \(configured) is not an executable file; fix the path, or build it with `swift build --product litestream`")
            }
            return configured
        }
        looked.append("configuration.executablePath (not set)")
        if let fromEnvironment = environment["LITESTREAM_EXECUTABLE"], !fromEnvironment.isEmpty {
            guard isExecutable(fromEnvironment) else {
                throw SupervisorError(
                    .executableNotFound,
                    "LITESTREAM_EXECUTABLE=\(fromEnvironment) is not an executable file; fix it or unset it")
            }
            return fromEnvironment
        }
        looked.append("LITESTREAM_EXECUTABLE (not set)")
        if let directory = ownExecutableDirectory() {
            let candidate = directory + "/" + name
            if isExecutable(candidate) { return candidate }
            looked.append("\(candidate) (next to the app's executable: missing)")
        } else {
            looked.append("next to the app's executable (its path is unknown)")
        }
        let path = environment["PATH"] ?? ""
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if isExecutable(candidate) { return candidate }
        }
        looked.append("PATH (\(path.isEmpty ? "empty" : path): no \(name))")
        throw SupervisorError(
            .executableNotFound,
            "no litestream executable found; looked at: \(looked.joined(separator: ", ")). Build it beside the app "
                + "with `swift build --product litestream` (the package that provides LitestreamSupervisor has it), "
                + "or set executablePath or LITESTREAM_EXECUTABLE")
    }

    /// The directory of the running executable: `/proc/self/exe` on Linux (exact, whatever the working directory
    /// or argv[0] say), else `argv[0]` resolved against the working directory or looked up in `PATH`.
    static func ownExecutableDirectory() -> String? {
        #if os(Linux)
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return (target as NSString).deletingLastPathComponent
        }
        #endif
        guard let argument0 = CommandLine.arguments.first, !argument0.isEmpty else { return nil }
        var candidate = argument0
        if !argument0.contains("/") {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
            guard let found = path.split(separator: ":").map({ "\($0)/\(argument0)" }).first(where: isExecutable)
            else { return nil }
            candidate = found
        }
        let resolved = URL(fileURLWithPath: candidate).resolvingSymlinksInPath().path
        return (resolved as NSString).deletingLastPathComponent
    }

    static func isExecutable(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && FileManager.default.isExecutableFile(atPath: path)
    }
}
