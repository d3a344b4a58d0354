import Foundation
import LitestreamClient
import LTX

/// The last outcome of a verification (``ReplicationSupervisor/verify(_:timeout:)``), for the dashboard.
public struct VerificationRecord: Sendable, Equatable {
    /// The database path.
    public var path: String
    public var result: VerificationResult
    /// When the verification finished, Unix milliseconds.
    public var finishedAt: Int64

    public init(path: String, result: VerificationResult, finishedAt: Int64) {
        self.path = path
        self.result = result
        self.finishedAt = finishedAt
    }
}

/// The dashboard: one self-contained HTML page with the supervisor's state and every database and replica.
///
/// Self-contained on purpose: inline CSS (light and dark through `prefers-color-scheme`), no script, no font or
/// stylesheet from a CDN, so that it renders behind a firewall and adds no third party to an admin page. It
/// refreshes itself with `<meta http-equiv="refresh">`. Every value from the status is HTML-escaped: paths, error
/// messages and replica locations come from configuration files and remote servers.
public struct DashboardPage: Sendable {
    /// The page's title and heading.
    public var title: String
    /// Seconds between automatic reloads; `nil` for none.
    public var refreshSeconds: Int?

    public init(title: String = "Litestream", refreshSeconds: Int? = 10) {
        self.title = title
        self.refreshSeconds = refreshSeconds
    }

    /// The page for `status` as of `now` (Unix milliseconds; default: the current time), with the last verification of each database.
    public func render(
        status: SupervisorStatus,
        verifications: [VerificationRecord] = [],
        now: Int64? = nil
    ) -> String {
        let now = now ?? HealthReport.currentUnixMilliseconds()
        var html = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light dark">

        """
        if let refreshSeconds, refreshSeconds > 0 {
            html += "<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">\n"
        }
        html += "<title>\(escape(title))</title>\n<style>\(Self.css)</style>\n</head>\n<body>\n"
        html += "<h1>\(escape(title))</h1>\n"
        html += supervisorSection(status, now: now)
        if status.databases.isEmpty {
            html += "<p class=\"muted\">No replication status: the replicator is not running.</p>\n"
        }
        for database in status.databases {
            html += databaseSection(database, now: now)
        }
        if !verifications.isEmpty {
            html += verificationSection(verifications, now: now)
        }
        html += "<footer class=\"muted\">Rendered \(escape(Self.timestamp(now))) UTC</footer>\n</body>\n</html>\n"
        return html
    }

    private func supervisorSection(_ status: SupervisorStatus, now: Int64) -> String {
        let stateClass = switch status.state {
        case .running: "ok"
        case .starting, .restarting, .disabled, .stopped: "warn"
        case .failed: "bad"
        }
        var rows: [(String, String)] = [
            ("State", "<span class=\"badge \(stateClass)\">\(escape(status.state.rawValue))</span>"),
            ("PID", status.pid.map { escape(String($0)) } ?? dash),
            ("Restarts", escape(String(status.restarts))),
            ("Started at", time(status.startedAt, now: now)),
        ]
        rows.append(("Last exit", status.lastExit.map(escape) ?? dash))
        rows.append(("Last error", status.lastError.map { "<span class=\"error\">\(escape($0))</span>" } ?? dash))
        var html = "<section>\n<h2>Replicator</h2>\n<table class=\"kv\">\n"
        for (key, value) in rows {
            html += "<tr><th>\(key)</th><td>\(value)</td></tr>\n"
        }
        return html + "</table>\n</section>\n"
    }

    private func databaseSection(_ database: ReplicationStatus, now: Int64) -> String {
        var html = "<section class=\"database\">\n<h2 class=\"path\">\(escape(database.path))</h2>\n<table class=\"kv\">\n"
        html += "<tr><th>Local TXID</th><td class=\"mono\">\(escape(database.localTXID.description))</td></tr>\n"
        html += "<tr><th>Last sync</th><td>\(time(database.lastSyncAt, now: now))</td></tr>\n"
        html += "<tr><th>Syncs / errors</th><td>\(database.syncCount) / \(database.syncErrorCount)</td></tr>\n"
        html += "<tr><th>Last error</th><td>"
            + (database.lastError.map { "<span class=\"error\">\(escape($0))</span>" } ?? dash) + "</td></tr>\n"
        html += "</table>\n"
        if database.replicas.isEmpty {
            return html + "<p class=\"muted\">No replicas.</p>\n</section>\n"
        }
        html += """
        <table class="replicas">
        <thead><tr><th>Replica</th><th>Type</th><th>Location</th><th>TXID</th><th>Lag</th><th>Pending</th>\
        <th>Last upload</th><th>Last error</th></tr></thead>
        <tbody>

        """
        for replica in database.replicas {
            let lag = replica.positionKnown
                ? "\(HealthReport.format(seconds: replica.lagSeconds)) (\(Self.bytes(replica.lagBytes)))"
                : "unknown"
            let txid = replica.positionKnown ? replica.txid.description : "unknown"
            html += "<tr>"
            html += "<td>\(escape(replica.name))</td>"
            html += "<td>\(escape(replica.type))</td>"
            // The location is meant to be printable; it goes through the redaction once more anyway, because a
            // URL with user info in a configuration file would otherwise end up on an admin page.
            html += "<td class=\"mono\">\(escape(Redaction.url(replica.location)))</td>"
            html += "<td class=\"mono nowrap\">\(escape(txid))</td>"
            html += "<td class=\"lag nowrap\">\(escape(lag))</td>"
            html += "<td>\(replica.pendingFiles)</td>"
            html += "<td>\(time(replica.lastUploadAt, now: now))</td>"
            html += "<td>" + (replica.lastError.map { "<span class=\"error\">\(escape($0))</span>" } ?? dash) + "</td>"
            html += "</tr>\n"
        }
        return html + "</tbody>\n</table>\n</section>\n"
    }

    private func verificationSection(_ records: [VerificationRecord], now: Int64) -> String {
        var html = """
        <section>
        <h2>Last verifications</h2>
        <table class="replicas">
        <thead><tr><th>Database</th><th>Result</th><th>Reason</th><th>Finished</th></tr></thead>
        <tbody>

        """
        for record in records {
            let (word, cssClass, reason): (String, String, String?) = switch record.result {
            case .verified: ("verified", "ok", nil)
            case .failed(let reason): ("failed", "bad", reason)
            case .inconclusive(let reason): ("inconclusive", "warn", reason)
            }
            html += "<tr><td class=\"mono\">\(escape(record.path))</td>"
            html += "<td><span class=\"badge \(cssClass)\">\(word)</span></td>"
            html += "<td>\(reason.map(escape) ?? dash)</td>"
            html += "<td>\(time(record.finishedAt, now: now))</td></tr>\n"
        }
        return html + "</tbody>\n</table>\n</section>\n"
    }

    private var dash: String { "<span class=\"muted\">–</span>" }

    private func time(_ ms: Int64?, now: Int64) -> String {
        guard let ms else { return dash }
        let age = Double(now - ms) / 1000
        let relative = age >= 0 ? "\(HealthReport.format(seconds: age)) ago" : "in the future"
        return "\(escape(Self.timestamp(ms))) <span class=\"muted\">(\(escape(relative)))</span>"
    }

    static func timestamp(_ ms: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate,
                                   .withSpaceBetweenDateAndTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    static func bytes(_ n: Int64) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1024 * 1024 { return String(format: "%.1f KiB", Double(n) / 1024) }
        return String(format: "%.1f MiB", Double(n) / 1024 / 1024)
    }

    private func escape(_ s: String) -> String { Self.escapeHTML(s) }

    /// Escapes text for HTML element content and double- or single-quoted attribute values.
    public static func escapeHTML(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            // Control characters (other than tab and newlines) are not allowed in HTML text.
            case _ where c.value < 0x20 && c != "\t" && c != "\n" && c != "\r": out += "\u{FFFD}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static let css = """
    :root{--bg:#fff;--fg:#1d1d1f;--muted:#6e6e73;--line:#d2d2d7;--card:#f5f5f7;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e}
    @media (prefers-color-scheme: dark){:root{--bg:#111214;--fg:#e6e6e6;--muted:#9a9aa0;--line:#34353a;--card:#1b1c1f;\
    --ok:#3fb950;--warn:#d29922;--bad:#f85149}}
    body{margin:2rem auto;max-width:72rem;padding:0 1rem;background:var(--bg);color:var(--fg);\
    font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
    h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:0 0 .5rem}
    section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem;margin:0 0 1rem}
    table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .6rem;vertical-align:top;\
    border-bottom:1px solid var(--line)}
    table.kv th{width:10rem;color:var(--muted);font-weight:500}table.replicas{margin-top:.75rem}
    table.replicas th{color:var(--muted);font-weight:500;white-space:nowrap}
    .mono,.path{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
    .muted{color:var(--muted)}.error{color:var(--bad)}.nowrap{white-space:nowrap;word-break:normal}
    .badge{display:inline-block;padding:0 .5rem;border-radius:999px;border:1px solid currentColor;font-size:.85em}
    .ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}
    footer{font-size:.85em;margin-top:1rem}
    """
}
