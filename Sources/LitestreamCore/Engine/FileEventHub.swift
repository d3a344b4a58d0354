@preconcurrency import Dispatch
import Synchronization

/// One inotify instance for the whole process, shared by every `WALWatcher` and directory watch.
///
/// An instance per database ran into the kernel's default limit of 128 instances per user (`fs.inotify.
/// max_user_instances`), past which every further database fell back to polling. A directory costs one watch
/// (`fs.inotify.max_user_watches`, tens of thousands or more), however many databases and subscribers it holds:
/// the watch's mask is the union of its subscribers' masks, and events are routed to subscribers by file name, so a
/// write to one tenant's WAL wakes that tenant's sync loop and nobody else.
///
/// Events are read on one dispatch queue and handed to subscribers' handlers there: handlers must be short (signal
/// a `WakeSignal`, yield to a stream). Only on Linux; elsewhere ``shared`` is nil and callers poll.
package final class FileEventHub: @unchecked Sendable {
    // @unchecked: `source` and `fd` are set once in init; everything mutable is behind `state` or `reading`.

    /// What a subscriber hears.
    package struct Event: Sendable {
        /// The file the event is about, within the watched directory; nil for an event about the directory itself.
        package var name: String?
        /// The inotify event mask (`IN_CREATE`, `IN_ISDIR`, …).
        package var mask: UInt32
        /// True when events may have been lost (the kernel's queue overflowed, or the watch went away, as when
        /// the directory is removed): the subscriber must look for itself.
        package var lost: Bool
    }

    /// A subscription; pass it back to change its mask or to end it.
    package struct Token: Sendable, Hashable {
        fileprivate let id: Int
        fileprivate let wd: Int32
    }

    package typealias Handler = @Sendable (Event) -> Void

    private struct Subscriber {
        var name: String?
        var mask: UInt32
        var handler: Handler
    }

    private struct Watch {
        var path: String
        var mask: UInt32 = 0
        var subscribers: [Int: Subscriber] = [:]
        /// Subscribers that want one file name only; the others hear every name.
        var byName: [String: Set<Int>] = [:]
        var anyName: Set<Int> = []
        /// How many subscribers want each of the 32 mask bits: the union of their masks in 32 steps, not one per
        /// subscriber (thousands of tenants in one directory change their masks at every sync).
        var bitCounts = [Int](repeating: 0, count: 32)

        var unionMask: UInt32 {
            var union: UInt32 = 0
            for bit in 0..<32 where bitCounts[bit] > 0 { union |= 1 << UInt32(bit) }
            return union
        }

        mutating func add(_ id: Int, _ subscriber: Subscriber) {
            subscribers[id] = subscriber
            if let name = subscriber.name { byName[name, default: []].insert(id) } else { anyName.insert(id) }
            count(subscriber.mask, by: 1)
        }

        /// Whether `id` was a subscriber.
        mutating func remove(_ id: Int) -> Bool {
            guard let sub = subscribers.removeValue(forKey: id) else { return false }
            if let name = sub.name {
                byName[name]?.remove(id)
                if byName[name]?.isEmpty == true { byName[name] = nil }
            } else {
                anyName.remove(id)
            }
            count(sub.mask, by: -1)
            return true
        }

        mutating func count(_ mask: UInt32, by delta: Int) {
            var m = mask
            while m != 0 {
                let bit = m.trailingZeroBitCount
                bitCounts[bit] += delta
                m &= m - 1
            }
        }
    }

    private struct State {
        var nextID = 0
        var watches: [Int32: Watch] = [:]
    }

    /// The process's hub, or nil where there is no inotify (not Linux, or `inotify_init1` failed).
    package static let shared: FileEventHub? = FileEventHub()

    private let fd: Int32
    private let state = Mutex(State())
    /// Serialises reads of the descriptor: the dispatch source reads it, and so does `drain()`.
    private let reading = Mutex(())
    private let queue = DispatchQueue(label: "litestream.file-events")
    private let source: (any DispatchSourceRead)?

    private init?() {
        #if os(Linux)
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        self.fd = fd
        let src = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source = src
        src.setEventHandler { [weak self] in self?.drain() }
        src.resume()
        #else
        return nil
        #endif
    }

    /// Subscribes to events in `directory` matching `mask` (about `name` only, when given). Nil when the directory
    /// cannot be watched (it does not exist, or the user's watch limit is reached): poll instead.
    package func subscribe(directory: String, name: String? = nil, mask: UInt32, handler: @escaping Handler) -> Token? {
        #if os(Linux)
        state.withLock { s -> Token? in
            // IN_MASK_ADD: the directory may already be watched under another path (a symlink); never narrow that
            // watch's mask here, `update` below sets the exact union.
            let wd = inotify_add_watch(fd, directory, mask | UInt32(IN_MASK_ADD))
            guard wd >= 0 else { return nil }
            s.nextID += 1
            let id = s.nextID
            // Changed in place: a copy of the watch, changed and stored back, copied its table of thousands of
            // subscribers at each subscription (a quadratic start, seen in a profile of 10,000 tenants).
            s.watches[wd, default: Watch(path: directory)].add(id, Subscriber(name: name, mask: mask, handler: handler))
            // A mask the watch already has needs no update.
            if s.watches[wd]!.mask & mask != mask { update(&s, wd) }
            return Token(id: id, wd: wd)
        }
        #else
        nil
        #endif
    }

    /// Changes a subscription's mask (one system call when the directory's union mask changes, none otherwise).
    package func setMask(_ token: Token, _ mask: UInt32) {
        state.withLock { s in
            guard let old = s.watches[token.wd]?.subscribers[token.id]?.mask, old != mask else { return }
            s.watches[token.wd]!.subscribers[token.id]!.mask = mask
            s.watches[token.wd]!.count(old, by: -1)
            s.watches[token.wd]!.count(mask, by: 1)
            update(&s, token.wd)
        }
    }

    /// Ends a subscription; the directory's watch goes with its last subscriber.
    package func unsubscribe(_ token: Token) {
        state.withLock { s in
            guard s.watches[token.wd]?.remove(token.id) == true else { return }
            update(&s, token.wd)
        }
    }

    /// Sets the kernel's mask for a watch to its subscribers' union, or removes the watch without subscribers.
    private func update(_ s: inout State, _ wd: Int32) {
        #if os(Linux)
        guard let w = s.watches[wd] else { return }
        if w.subscribers.isEmpty {
            s.watches[wd] = nil
            _ = inotify_rm_watch(fd, wd)
            return
        }
        let mask = w.unionMask
        guard mask != w.mask else { return }
        // Replaces the mask of the watch of this inode, which gives the same wd.
        if inotify_add_watch(fd, w.path, mask) == wd { s.watches[wd]!.mask = mask }
        #endif
    }

    /// Reads every queued event and hands each to its subscribers, now, on the caller's thread. The source does
    /// this when the descriptor is readable; a caller that is about to look for itself calls it so that events of
    /// writes already made are delivered before it goes on (see `WALWatcher.listen`).
    package func drain() {
        #if os(Linux)
        reading.withLock { _ in
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                var deliveries: [(Handler, Event)] = []
                buffer.withUnsafeBytes { raw in
                    var offset = 0
                    let header = MemoryLayout<inotify_event>.size
                    while offset + header <= n {
                        let wd = raw.load(fromByteOffset: offset, as: Int32.self)
                        let mask = raw.load(fromByteOffset: offset + 4, as: UInt32.self)
                        let len = Int(raw.load(fromByteOffset: offset + 12, as: UInt32.self))
                        let nameStart = offset + header
                        var name: String?
                        if len > 0 {
                            let bytes = raw[nameStart..<min(nameStart + len, n)].prefix { $0 != 0 }
                            name = String(decoding: bytes, as: UTF8.self)
                        }
                        offset = nameStart + len
                        collect(wd: wd, mask: mask, name: name, into: &deliveries)
                    }
                }
                // Handlers run outside the state lock: they may subscribe or change masks.
                for (handler, event) in deliveries { handler(event) }
            }
        }
        #endif
    }

    private func collect(wd: Int32, mask: UInt32, name: String?, into out: inout [(Handler, Event)]) {
        #if os(Linux)
        state.withLock { s in
            if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                // Anything may have been missed, anywhere.
                for w in s.watches.values {
                    for sub in w.subscribers.values { out.append((sub.handler, Event(name: nil, mask: mask, lost: true))) }
                }
                return
            }
            guard let w = s.watches[wd] else { return }
            if mask & UInt32(IN_IGNORED) != 0 {
                // The watch is gone (directory removed or unmounted): nothing more will be heard from it.
                s.watches[wd] = nil
                for sub in w.subscribers.values { out.append((sub.handler, Event(name: nil, mask: mask, lost: true))) }
                return
            }
            let event = Event(name: name, mask: mask, lost: false)
            var ids = w.anyName
            if let name, let named = w.byName[name] { ids.formUnion(named) }
            for id in ids {
                guard let sub = w.subscribers[id], sub.mask & mask != 0 else { continue }
                out.append((sub.handler, event))
            }
        }
        #endif
    }

    /// How many inotify instances this process holds (Linux; from `/proc/self/fd`). One with the hub, however
    /// many databases; for tests and diagnostics.
    package static func inotifyInstancesInProcess() -> Int {
        guard let names = try? POSIX.listDirectory("/proc/self/fd") else { return 0 }
        var count = 0
        for name in names where name != "." && name != ".." {
            var buffer = [CChar](repeating: 0, count: 64)
            let n = readlink("/proc/self/fd/" + name, &buffer, buffer.count - 1)
            guard n > 0 else { continue }
            let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target == "anon_inode:inotify" { count += 1 }
        }
        return count
    }
}
