public import NIOCore

/// The SFTP version 3 wire protocol (draft-ietf-secsh-filexfer-02, what OpenSSH's `sftp-server` speaks): the
/// requests this client sends and the responses it reads. Every packet is `uint32 length`, `byte type`, then (for
/// all but INIT and VERSION) `uint32 request-id` and the fields; strings are `uint32 length` + bytes.
public enum SFTPPacket {
    /// Packet type numbers.
    public enum PacketType: UInt8, Sendable {
        case initialize = 1, version = 2
        case open = 3, close = 4, read = 5, write = 6, lstat = 7, fstat = 8, setstat = 9, fsetstat = 10
        case opendir = 11, readdir = 12, remove = 13, mkdir = 14, rmdir = 15, realpath = 16, stat = 17
        case rename = 18, readlink = 19, symlink = 20
        case status = 101, handle = 102, data = 103, name = 104, attrs = 105
        case extended = 200, extendedReply = 201
    }

    /// The protocol version this client asks for and speaks.
    public static let version: UInt32 = 3
}

/// `SSH_FXF_*` flags of an OPEN request.
public struct SFTPOpenFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let read = SFTPOpenFlags(rawValue: 0x01)
    public static let write = SFTPOpenFlags(rawValue: 0x02)
    public static let append = SFTPOpenFlags(rawValue: 0x04)
    public static let create = SFTPOpenFlags(rawValue: 0x08)
    public static let truncate = SFTPOpenFlags(rawValue: 0x10)
    public static let exclusive = SFTPOpenFlags(rawValue: 0x20)
}

/// File attributes (`ATTRS`): each field is present only when its flag is set.
public struct SFTPAttributes: Sendable, Hashable {
    public var size: UInt64?
    public var uid: UInt32?
    public var gid: UInt32?
    /// The POSIX mode, file type bits included (`0o100644`, `0o040755`).
    public var permissions: UInt32?
    /// Access and modification times, whole seconds since 1970 (SFTP v3 has no finer resolution).
    public var accessTime: UInt32?
    public var modificationTime: UInt32?
    /// `extended_type`/`extended_data` pairs.
    public var extended: [(String, String)] = []

    public init(size: UInt64? = nil, permissions: UInt32? = nil, accessTime: UInt32? = nil, modificationTime: UInt32? = nil) {
        self.size = size
        self.permissions = permissions
        self.accessTime = accessTime
        self.modificationTime = modificationTime
    }

    static let sizeFlag: UInt32 = 0x01, uidGIDFlag: UInt32 = 0x02, permissionsFlag: UInt32 = 0x04
    static let timesFlag: UInt32 = 0x08, extendedFlag: UInt32 = 0x8000_0000

    /// A directory, by the file type bits of ``permissions`` (nil when the server did not say).
    public var isDirectory: Bool? { permissions.map { $0 & 0o170000 == 0o040000 } }
    /// A regular file, by the file type bits of ``permissions``.
    public var isRegularFile: Bool? { permissions.map { $0 & 0o170000 == 0o100000 } }

    public static func == (a: Self, b: Self) -> Bool {
        a.size == b.size && a.uid == b.uid && a.gid == b.gid && a.permissions == b.permissions
            && a.accessTime == b.accessTime && a.modificationTime == b.modificationTime
            && a.extended.map(\.0) == b.extended.map(\.0) && a.extended.map(\.1) == b.extended.map(\.1)
    }

    public func hash(into h: inout Hasher) {
        h.combine(size)
        h.combine(permissions)
        h.combine(modificationTime)
    }

    func write(to b: inout ByteBuffer) {
        var flags: UInt32 = 0
        if size != nil { flags |= Self.sizeFlag }
        if uid != nil && gid != nil { flags |= Self.uidGIDFlag }
        if permissions != nil { flags |= Self.permissionsFlag }
        if accessTime != nil || modificationTime != nil { flags |= Self.timesFlag }
        if !extended.isEmpty { flags |= Self.extendedFlag }
        b.writeInteger(flags)
        if let size { b.writeInteger(size) }
        if let uid, let gid {
            b.writeInteger(uid)
            b.writeInteger(gid)
        }
        if let permissions { b.writeInteger(permissions) }
        if accessTime != nil || modificationTime != nil {
            // Both or neither on the wire: a missing one takes the other's value.
            b.writeInteger(accessTime ?? modificationTime!)
            b.writeInteger(modificationTime ?? accessTime!)
        }
        if !extended.isEmpty {
            b.writeInteger(UInt32(extended.count))
            for (k, v) in extended {
                b.writeSFTPString(k)
                b.writeSFTPString(v)
            }
        }
    }

    static func read(from b: inout ByteBuffer) throws(SFTPError) -> SFTPAttributes {
        let flags: UInt32 = try b.readSFTPInteger()
        var a = SFTPAttributes()
        if flags & sizeFlag != 0 { a.size = try b.readSFTPInteger() }
        if flags & uidGIDFlag != 0 {
            a.uid = try b.readSFTPInteger()
            a.gid = try b.readSFTPInteger()
        }
        if flags & permissionsFlag != 0 { a.permissions = try b.readSFTPInteger() }
        if flags & timesFlag != 0 {
            a.accessTime = try b.readSFTPInteger()
            a.modificationTime = try b.readSFTPInteger()
        }
        if flags & extendedFlag != 0 {
            let count: UInt32 = try b.readSFTPInteger()
            for _ in 0..<count {
                let name = try b.readSFTPUTF8()
                let value = try b.readSFTPUTF8()
                a.extended.append((name, value))
            }
        }
        return a
    }
}

/// One entry of a NAME response (READDIR, REALPATH).
public struct SFTPName: Sendable, Hashable {
    public var filename: String
    /// `ls -l`-style text; informational only.
    public var longname: String
    public var attributes: SFTPAttributes
}

/// `SSH_FX_*` status codes.
public struct SFTPStatusCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let ok = SFTPStatusCode(rawValue: 0)
    public static let eof = SFTPStatusCode(rawValue: 1)
    public static let noSuchFile = SFTPStatusCode(rawValue: 2)
    public static let permissionDenied = SFTPStatusCode(rawValue: 3)
    public static let failure = SFTPStatusCode(rawValue: 4)
    public static let badMessage = SFTPStatusCode(rawValue: 5)
    public static let noConnection = SFTPStatusCode(rawValue: 6)
    public static let connectionLost = SFTPStatusCode(rawValue: 7)
    public static let operationUnsupported = SFTPStatusCode(rawValue: 8)

    public var description: String {
        switch rawValue {
        case 0: "ok"
        case 1: "end of file"
        case 2: "no such file"
        case 3: "permission denied"
        case 4: "failure"
        case 5: "bad message"
        case 6: "no connection"
        case 7: "connection lost"
        case 8: "operation unsupported"
        default: "status \(rawValue)"
        }
    }
}

/// A request, as sent: each case is one packet type.
public enum SFTPRequest: Sendable, Hashable {
    case open(path: String, flags: SFTPOpenFlags, attributes: SFTPAttributes)
    case close(handle: ByteBuffer)
    case read(handle: ByteBuffer, offset: UInt64, length: UInt32)
    case write(handle: ByteBuffer, offset: UInt64, data: ByteBuffer)
    case lstat(path: String)
    case fstat(handle: ByteBuffer)
    case setstat(path: String, attributes: SFTPAttributes)
    case opendir(path: String)
    case readdir(handle: ByteBuffer)
    case remove(path: String)
    case mkdir(path: String, attributes: SFTPAttributes)
    case rmdir(path: String)
    case realpath(path: String)
    case stat(path: String)
    case rename(from: String, to: String)
    /// `SSH_FXP_EXTENDED` with a request name such as `posix-rename@openssh.com` and its fields already encoded.
    case extended(name: String, data: ByteBuffer)

    public var type: SFTPPacket.PacketType {
        switch self {
        case .open: .open
        case .close: .close
        case .read: .read
        case .write: .write
        case .lstat: .lstat
        case .fstat: .fstat
        case .setstat: .setstat
        case .opendir: .opendir
        case .readdir: .readdir
        case .remove: .remove
        case .mkdir: .mkdir
        case .rmdir: .rmdir
        case .realpath: .realpath
        case .stat: .stat
        case .rename: .rename
        case .extended: .extended
        }
    }

    /// The whole packet, length prefix included.
    public func encode(id: UInt32, into b: inout ByteBuffer) {
        let start = b.writerIndex
        b.writeInteger(UInt32(0))  // length, filled in below
        b.writeInteger(type.rawValue)
        b.writeInteger(id)
        switch self {
        case .open(let path, let flags, let attributes):
            b.writeSFTPString(path)
            b.writeInteger(flags.rawValue)
            attributes.write(to: &b)
        case .close(let handle), .fstat(let handle), .readdir(let handle):
            b.writeSFTPString(handle)
        case .read(let handle, let offset, let length):
            b.writeSFTPString(handle)
            b.writeInteger(offset)
            b.writeInteger(length)
        case .write(let handle, let offset, let data):
            b.writeSFTPString(handle)
            b.writeInteger(offset)
            b.writeSFTPString(data)
        case .lstat(let path), .opendir(let path), .remove(let path), .rmdir(let path), .realpath(let path),
            .stat(let path):
            b.writeSFTPString(path)
        case .setstat(let path, let attributes), .mkdir(let path, let attributes):
            b.writeSFTPString(path)
            attributes.write(to: &b)
        case .rename(let from, let to):
            b.writeSFTPString(from)
            b.writeSFTPString(to)
        case .extended(let name, var data):
            b.writeSFTPString(name)
            b.writeBuffer(&data)
        }
        b.setInteger(UInt32(b.writerIndex - start - 4), at: start)
    }

    /// The INIT packet that opens a session (it has no request id).
    public static func encodeInit(into b: inout ByteBuffer) {
        b.writeInteger(UInt32(5))
        b.writeInteger(SFTPPacket.PacketType.initialize.rawValue)
        b.writeInteger(SFTPPacket.version)
    }
}

/// A response, as read.
public enum SFTPResponse: Sendable, Hashable {
    /// The server's answer to INIT: its version and the extensions it supports (`posix-rename@openssh.com`, …).
    case version(UInt32, extensions: [String: String])
    case status(id: UInt32, code: SFTPStatusCode, message: String)
    case handle(id: UInt32, ByteBuffer)
    case data(id: UInt32, ByteBuffer)
    case name(id: UInt32, [SFTPName])
    case attrs(id: UInt32, SFTPAttributes)
    case extendedReply(id: UInt32, ByteBuffer)

    /// The request id it answers (nil for VERSION).
    public var id: UInt32? {
        switch self {
        case .version: nil
        case .status(let id, _, _), .handle(let id, _), .data(let id, _), .name(let id, _), .attrs(let id, _),
            .extendedReply(let id, _):
            id
        }
    }

    public static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case let (.version(v1, e1), .version(v2, e2)): v1 == v2 && e1 == e2
        case let (.status(i1, c1, m1), .status(i2, c2, m2)): i1 == i2 && c1 == c2 && m1 == m2
        case let (.handle(i1, h1), .handle(i2, h2)): i1 == i2 && h1 == h2
        case let (.data(i1, d1), .data(i2, d2)): i1 == i2 && d1 == d2
        case let (.name(i1, n1), .name(i2, n2)): i1 == i2 && n1 == n2
        case let (.attrs(i1, a1), .attrs(i2, a2)): i1 == i2 && a1 == a2
        case let (.extendedReply(i1, d1), .extendedReply(i2, d2)): i1 == i2 && d1 == d2
        default: false
        }
    }

    public func hash(into h: inout Hasher) { h.combine(id) }

    /// The largest packet accepted from a server: OpenSSH's own limit is 256 KiB; a length beyond this is a broken
    /// stream, not a packet to buffer.
    public static let maximumLength = 1 << 20

    /// Reads one whole packet from the front of `buffer`, or returns nil (reading nothing) when it is not all there
    /// yet.
    public static func decode(from buffer: inout ByteBuffer) throws(SFTPError) -> SFTPResponse? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length >= 1, length <= maximumLength else {
            throw SFTPError(.protocolViolation, "the SFTP server sent a packet of \(length) bytes")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        var packet = buffer.readSlice(length: Int(length))!
        let typeByte: UInt8 = try packet.readSFTPInteger()
        guard let type = SFTPPacket.PacketType(rawValue: typeByte) else {
            throw SFTPError(.protocolViolation, "the SFTP server sent a packet of unknown type \(typeByte)")
        }
        if type == .version {
            let version: UInt32 = try packet.readSFTPInteger()
            var extensions: [String: String] = [:]
            while packet.readableBytes > 0 {
                let name = try packet.readSFTPUTF8()
                extensions[name] = try packet.readSFTPUTF8()
            }
            return .version(version, extensions: extensions)
        }
        let id: UInt32 = try packet.readSFTPInteger()
        switch type {
        case .status:
            let code = SFTPStatusCode(rawValue: try packet.readSFTPInteger())
            // The message and language tag are missing from some old servers' answers.
            let message = packet.readableBytes > 0 ? try packet.readSFTPUTF8() : ""
            return .status(id: id, code: code, message: message)
        case .handle:
            return .handle(id: id, try packet.readSFTPString())
        case .data:
            return .data(id: id, try packet.readSFTPString())
        case .name:
            let count: UInt32 = try packet.readSFTPInteger()
            var names: [SFTPName] = []
            names.reserveCapacity(Int(min(count, 1024)))
            for _ in 0..<count {
                let filename = try packet.readSFTPUTF8()
                let longname = try packet.readSFTPUTF8()
                names.append(SFTPName(filename: filename, longname: longname, attributes: try .read(from: &packet)))
            }
            return .name(id: id, names)
        case .attrs:
            return .attrs(id: id, try .read(from: &packet))
        case .extendedReply:
            return .extendedReply(id: id, packet)
        default:
            throw SFTPError(.protocolViolation, "the SFTP server sent a request packet (type \(typeByte))")
        }
    }

    /// Writes this response as a server would (tests, and a check of ``decode(from:)``).
    public func encode(into b: inout ByteBuffer) {
        let start = b.writerIndex
        b.writeInteger(UInt32(0))
        switch self {
        case .version(let version, let extensions):
            b.writeInteger(SFTPPacket.PacketType.version.rawValue)
            b.writeInteger(version)
            for (k, v) in extensions.sorted(by: { $0.key < $1.key }) {
                b.writeSFTPString(k)
                b.writeSFTPString(v)
            }
        case .status(let id, let code, let message):
            b.writeInteger(SFTPPacket.PacketType.status.rawValue)
            b.writeInteger(id)
            b.writeInteger(code.rawValue)
            b.writeSFTPString(message)
            b.writeSFTPString("")
        case .handle(let id, let handle):
            b.writeInteger(SFTPPacket.PacketType.handle.rawValue)
            b.writeInteger(id)
            b.writeSFTPString(handle)
        case .data(let id, let data):
            b.writeInteger(SFTPPacket.PacketType.data.rawValue)
            b.writeInteger(id)
            b.writeSFTPString(data)
        case .name(let id, let names):
            b.writeInteger(SFTPPacket.PacketType.name.rawValue)
            b.writeInteger(id)
            b.writeInteger(UInt32(names.count))
            for n in names {
                b.writeSFTPString(n.filename)
                b.writeSFTPString(n.longname)
                n.attributes.write(to: &b)
            }
        case .attrs(let id, let attributes):
            b.writeInteger(SFTPPacket.PacketType.attrs.rawValue)
            b.writeInteger(id)
            attributes.write(to: &b)
        case .extendedReply(let id, var data):
            b.writeInteger(SFTPPacket.PacketType.extendedReply.rawValue)
            b.writeInteger(id)
            b.writeBuffer(&data)
        }
        b.setInteger(UInt32(b.writerIndex - start - 4), at: start)
    }
}

extension ByteBuffer {
    mutating func writeSFTPString(_ s: String) {
        writeInteger(UInt32(s.utf8.count))
        writeString(s)
    }

    mutating func writeSFTPString(_ bytes: ByteBuffer) {
        writeInteger(UInt32(bytes.readableBytes))
        writeImmutableBuffer(bytes)
    }

    mutating func readSFTPInteger<T: FixedWidthInteger>(as: T.Type = T.self) throws(SFTPError) -> T {
        guard let v = readInteger(as: T.self) else {
            throw SFTPError(.protocolViolation, "an SFTP packet ended inside a field")
        }
        return v
    }

    mutating func readSFTPString() throws(SFTPError) -> ByteBuffer {
        let length: UInt32 = try readSFTPInteger()
        guard let s = readSlice(length: Int(length)) else {
            throw SFTPError(.protocolViolation, "an SFTP packet ended inside a string")
        }
        return s
    }

    mutating func readSFTPUTF8() throws(SFTPError) -> String {
        var s = try readSFTPString()
        return s.readString(length: s.readableBytes) ?? ""
    }
}
