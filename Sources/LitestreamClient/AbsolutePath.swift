/// `path` made absolute against this process's working directory (a leading `./` dropped), without resolving
/// symlinks: how the engine, the server and the control socket key a database.
package func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, buf.count) != nil else { return path }
    let cwd = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return (cwd == "/" ? "" : cwd) + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
}
