/// The Dockerfile install writes for an app that has none: a build stage that compiles the app and `litestream`,
/// and a small Ubuntu run stage with what both link, a non-root user, a volume per database directory and a health
/// check on the replication route.
struct DockerfileTemplate {
    /// The first line, by which a later run knows the file is install's own (compared whole, like the YAML files).
    static let header = "# Dockerfile written by `litestream install`: the app and its litestream replicator in one image."

    var framework: Framework
    var target: String
    var databases: [String]
    /// `swift:<version>-noble`: the app's tools version, at least 6.1 (traits need it).
    var swiftVersion: String

    /// The image tag for a manifest's tools version.
    static func swiftVersion(tools: (major: Int, minor: Int)?) -> String {
        guard let tools, (tools.major, tools.minor) > (6, 1) else { return "6.1" }
        return "\(tools.major).\(tools.minor)"
    }

    var text: String {
        let blocks = DockerfileBlocks(databases: databases)
        let user = "app"
        let environment = framework == .hummingbird
            ? "\n# The app reads config/litestream.yml (not the development file) in production.\nENV APP_ENV=production\n"
            : ""
        return """
            \(Self.header)
            # Edit it freely: a later `litestream install` leaves an edited file alone (unless --force).

            # ================================
            # Build image
            # ================================
            FROM swift:\(swiftVersion)-noble AS build

            \(blocks.buildLibraries)

            WORKDIR /build

            # Resolve the dependencies first: this layer is reused until Package.swift or Package.resolved changes.
            COPY ./Package.* ./
            RUN swift package resolve

            # Then the sources.
            COPY . .

            # The app and the replicator, optimised, with the Swift runtime linked in (the run image has no Swift).
            RUN swift build -c release --static-swift-stdlib --product \(target)
            RUN swift build -c release --static-swift-stdlib --product litestream

            # Stage what the run image needs: both executables (the app's supervisor starts the litestream next to
            # the app's executable), the app's resource bundles, and config/ (litestream.yml).
            RUN mkdir /staging \\
                && cp "$(swift build -c release --show-bin-path)/\(target)" /staging/ \\
                && cp "$(swift build -c release --show-bin-path)/litestream" /staging/ \\
                && find -L "$(swift build -c release --show-bin-path)" -maxdepth 1 -regex '.*\\.resources$' -exec cp -Ra {} /staging/ \\; \\
                && cp -R config /staging/

            # ================================
            # Run image
            # ================================
            FROM ubuntu:noble

            \(blocks.runtimeLibraries(also: ["tzdata"]))

            # An unprivileged user that owns the app's directory.
            RUN useradd --user-group --create-home --system --skel /dev/null --home-dir /app \(user)

            WORKDIR /app

            # The executables, resources and config/ from the build stage.
            COPY --from=build --chown=\(user):\(user) /staging /app
            \(environment)
            \(blocks.volumesAndHealthCheck(workdir: "/app", owner: "\(user):\(user)"))

            # From here on, not root.
            USER \(user):\(user)

            # The port the app listens on (CMD below).
            EXPOSE 8080

            # The app; it starts, watches and stops its litestream replicator itself.
            ENTRYPOINT ["./\(target)"]
            \(framework.dockerCommand)

            """
    }
}
