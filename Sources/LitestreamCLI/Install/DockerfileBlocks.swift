/// The pieces of a Dockerfile that make an image ship the replicator with the app, shared by the Dockerfile install
/// writes (``DockerfileTemplate``) and the blocks it inserts into an app's own (``DockerfileEditor``). Each inserted
/// block starts with a `# litestream install:` line, which is also how a later run knows it is there.
struct DockerfileBlocks {
    static let marker = "# litestream install:"

    var databases: [String]
    /// The port the app listens on in the image.
    var port = "8080"

    /// The build stage's packages: the headers of the C libraries this package links.
    var buildLibraries: String {
        """
        \(Self.marker) SQLite and LZ4 headers, for building the litestream-swift targets
        RUN export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \\
            && apt-get -q update \\
            && apt-get -q install -y --no-install-recommends libsqlite3-dev liblz4-dev \\
            && rm -rf /var/lib/apt/lists/*
        """
    }

    /// The Debian packages of what `litestream` links outside the base image, and what the image's health check
    /// and S3 over HTTPS need.
    static let runtimePackages = ["libsqlite3-0", "liblz4-1", "ca-certificates", "curl"]

    /// The run stage's packages: what the app and `litestream` link at run time (SQLite, LZ4), certificates for
    /// HTTPS to S3, and curl for the health check.
    func runtimeLibraries(also extra: [String] = []) -> String {
        """
        \(Self.marker) the SQLite and LZ4 libraries litestream links, CA certificates for S3, curl for HEALTHCHECK
        RUN export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \\
            && apt-get -q update \\
            && apt-get -q install -y --no-install-recommends \((Self.runtimePackages + extra).joined(separator: " ")) \\
            && rm -rf /var/lib/apt/lists/*
        """
    }

    /// The directories of the databases in the image (under `workdir` when relative), and the databases that sit in
    /// `workdir` itself (which cannot get a volume of their own).
    func databaseDirectories(workdir: String) -> (directories: [String], topLevel: [String]) {
        var directories: [String] = []
        var topLevel: [String] = []
        for db in databases {
            let parts = db.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
            guard parts.count > 1 else {
                if !db.hasPrefix("/") { topLevel.append(db) }
                continue
            }
            let dir = parts.dropLast().joined(separator: "/")
            let absolute = db.hasPrefix("/") ? "/" + dir : (workdir == "/" ? "" : workdir) + "/" + dir
            if !directories.contains(absolute) { directories.append(absolute) }
        }
        return (directories, topLevel)
    }

    /// The databases' directories, owned by the app's user, as volumes: the database outlives the container, and
    /// the replicator's `-litestream` state beside it too. Then the health check on the replication health route.
    func volumesAndHealthCheck(workdir: String, owner: String?) -> String {
        let dirs = databaseDirectories(workdir: workdir).directories
        var out = ""
        if !dirs.isEmpty {
            let list = dirs.joined(separator: " ")
            out += """
                \(Self.marker) the databases' directories, owned by the app's user, kept in volumes across containers
                RUN mkdir -p \(list)\(owner.map { " && chown \($0) \(list)" } ?? "")
                VOLUME [\(dirs.map { jsonString($0) }.joined(separator: ", "))]

                """
        }
        out += """
            \(Self.marker) healthy while replication keeps up (the app's /litestream/health route: 200, else 503)
            HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\
                CMD curl -fsS http://127.0.0.1:\(port)/litestream/health || exit 1
            """
        return out
    }

    /// A RUN that builds `litestream` beside the app and stages it, with `config/`, where the app is staged.
    /// `mounts` repeats the app's build RUN's `--mount=...` flags: a cache mount's content is visible only to the
    /// RUNs that mount it.
    func buildReplicator(staging: String, mounts: [String]) -> String {
        let run = mounts.isEmpty ? "RUN " : (["RUN"] + mounts).joined(separator: " ") + " \\\n    "
        return """
            \(Self.marker) the replicator, staged beside the app (the supervisor starts the litestream next to the app's executable), and config/
            \(run)swift build -c release --static-swift-stdlib --product litestream \\
                && mkdir -p \(staging) \\
                && cp "$(swift build -c release --show-bin-path)/litestream" \(staging)/ \\
                && cp -R config \(staging)/
            """
    }
}
