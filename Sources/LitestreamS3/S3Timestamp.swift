import LitestreamHTTP

/// The `litestream-timestamp` metadata's format, shared with the other object stores (``RFC3339Timestamp``).
typealias S3Timestamp = RFC3339Timestamp
