public import ArgumentParser

/// Where an app's `litestream` subcommand gets its configuration from.
public protocol LitestreamConfigurationProvider {
    static func litestreamConfiguration() throws -> ReplicationSupervisor.Configuration
}

/// `App litestream <command> ...`: every command of the `litestream` executable, through the app's own command
/// line (swift-argument-parser), with the app's configuration. Arguments go through exactly as given; the
/// command's output and exit code are the `litestream` executable's own.
///
/// ```swift
/// struct App: AsyncParsableCommand {
///     static let configuration = CommandConfiguration(
///         subcommands: [Serve.self, LitestreamSubcommand<AppLitestream>.self])
/// }
/// ```
public struct LitestreamSubcommand<Provider: LitestreamConfigurationProvider>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "litestream", abstract: "Runs a litestream command with the app's configuration.")
    }

    @Argument(parsing: .captureForPassthrough, help: "The litestream command and its arguments.")
    public var arguments: [String] = []

    public init() {}

    public func run() async throws {
        let supervisor = ReplicationSupervisor(configuration: try Provider.litestreamConfiguration())
        let status = try await supervisor.runCommand(arguments)
        if status != 0 { throw ExitCode(status) }
    }
}
