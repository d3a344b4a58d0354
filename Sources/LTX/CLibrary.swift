// The C library, once for the module. A plain import is file-scoped (MemberImportVisibility or not); `@_exported`
// reaches the module's other files, and since it can only be public it also reaches modules that import this one.
#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Darwin)
@_exported import Darwin
#else
#error("unsupported platform: Litestream needs Glibc or Darwin")
#endif
