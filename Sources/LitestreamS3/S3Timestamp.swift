import LitestreamCore

/// Litestream's `litestream-timestamp` metadata (see ``RFC3339Timestamp``).
typealias S3Timestamp = RFC3339Timestamp
