// The umbrella: `import Litestream` gives an embedding app the whole engine, replica clients, the configuration
// file and the server side. An app that needs less depends on the narrower products (see Package.swift).
@_exported import LTX
@_exported import LitestreamABS
@_exported import LitestreamClient
@_exported import LitestreamConfig
@_exported import LitestreamCore
@_exported import LitestreamGCS
@_exported import LitestreamOSS
@_exported import LitestreamS3
@_exported import LitestreamSFTP
@_exported import LitestreamServer
@_exported import LitestreamWebDAV
@_exported import LitestreamNATS
