// The C library, once for the module (LTX's CLibrary.swift explains why `@_exported` and rejects other platforms).
#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Darwin)
@_exported import Darwin
#endif
