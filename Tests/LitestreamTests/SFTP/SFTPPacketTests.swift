import Foundation
import NIOCore
import Testing

@testable import LitestreamSFTP

/// The SFTP v3 packets, byte for byte as draft-ietf-secsh-filexfer-02 lays them out.
struct SFTPPacketTests {
    static func hex(_ b: ByteBuffer) -> String {
        b.readableBytesView.map { String(format: "%02x", $0) }.joined()
    }

    static func encoded(_ request: SFTPRequest, id: UInt32) -> String {
        var b = ByteBuffer()
        request.encode(id: id, into: &b)
        return hex(b)
    }

    static func buffer(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    @Test func initPacket() {
        var b = ByteBuffer()
        SFTPRequest.encodeInit(into: &b)
        #expect(Self.hex(b) == "000000050100000003")
    }

    @Test func requests() {
        // length | type | id | fields
        #expect(Self.encoded(.open(path: "a", flags: .read, attributes: .init()), id: 1)
            == "00000012" + "03" + "00000001" + "0000000161" + "00000001" + "00000000")
        #expect(Self.encoded(.open(path: "t", flags: [.write, .create, .truncate], attributes: .init(permissions: 0o600)), id: 2)
            == "00000016" + "03" + "00000002" + "0000000174" + "0000001a" + "00000004" + "00000180")
        #expect(Self.encoded(.close(handle: Self.buffer("h")), id: 3) == "0000000a" + "04" + "00000003" + "0000000168")
        #expect(Self.encoded(.read(handle: Self.buffer("h"), offset: 0x1_0000_0000, length: 32768), id: 4)
            == "00000016" + "05" + "00000004" + "0000000168" + "0000000100000000" + "00008000")
        #expect(Self.encoded(.write(handle: Self.buffer("h"), offset: 0x10, data: Self.buffer("xyz")), id: 7)
            == "00000019" + "06" + "00000007" + "0000000168" + "0000000000000010" + "00000003" + "78797a")
        #expect(Self.encoded(.lstat(path: "p"), id: 5) == "0000000a" + "07" + "00000005" + "0000000170")
        #expect(Self.encoded(.fstat(handle: Self.buffer("h")), id: 5) == "0000000a" + "08" + "00000005" + "0000000168")
        // SETSTAT with both times (flag 0x08): what sets a replica file's mtime.
        #expect(Self.encoded(.setstat(path: "f", attributes: .init(accessTime: 0x5f5e_1000, modificationTime: 0x5f5e_1000)), id: 2)
            == "00000016" + "09" + "00000002" + "0000000166" + "00000008" + "5f5e1000" + "5f5e1000")
        #expect(Self.encoded(.opendir(path: "d"), id: 9) == "0000000a" + "0b" + "00000009" + "0000000164")
        #expect(Self.encoded(.readdir(handle: Self.buffer("h")), id: 9) == "0000000a" + "0c" + "00000009" + "0000000168")
        #expect(Self.encoded(.remove(path: "f"), id: 6) == "0000000a" + "0d" + "00000006" + "0000000166")
        #expect(Self.encoded(.mkdir(path: "d", attributes: .init(permissions: 0o700)), id: 8)
            == "00000012" + "0e" + "00000008" + "0000000164" + "00000004" + "000001c0")
        #expect(Self.encoded(.rmdir(path: "d"), id: 8) == "0000000a" + "0f" + "00000008" + "0000000164")
        #expect(Self.encoded(.stat(path: "p"), id: 5) == "0000000a" + "11" + "00000005" + "0000000170")
        #expect(Self.encoded(.rename(from: "a", to: "b"), id: 10)
            == "0000000f" + "12" + "0000000a" + "0000000161" + "0000000162")
        var names = ByteBuffer()
        names.writeSFTPString("a")
        names.writeSFTPString("b")
        #expect(Self.encoded(.extended(name: "posix-rename@openssh.com", data: names), id: 3)
            == "0000002b" + "c8" + "00000003" + "00000018" + Self.hex(Self.buffer("posix-rename@openssh.com"))
                + "0000000161" + "0000000162")
    }

    static func decode(_ hex: String) throws -> SFTPResponse? {
        var b = ByteBuffer(bytes: stride(from: 0, to: hex.count, by: 2).map {
            let i = hex.index(hex.startIndex, offsetBy: $0)
            return UInt8(hex[i..<hex.index(i, offsetBy: 2)], radix: 16)!
        })
        return try SFTPResponse.decode(from: &b)
    }

    @Test func responses() throws {
        // VERSION 3 with OpenSSH's posix-rename extension.
        let version = "00000000" + "02" + "00000003" + "00000018" + Self.hex(Self.buffer("posix-rename@openssh.com"))
            + "0000000131"
        let v = version.replacingCharacters(in: version.startIndex..<version.index(version.startIndex, offsetBy: 8),
            with: String(format: "%08x", version.count / 2 - 4))
        #expect(try Self.decode(v) == .version(3, extensions: ["posix-rename@openssh.com": "1"]))
        // STATUS 2 "No such file", empty language tag.
        #expect(try Self.decode("0000001d" + "65" + "00000005" + "00000002" + "0000000c" + Self.hex(Self.buffer("No such file")) + "00000000")
            == .status(id: 5, code: .noSuchFile, message: "No such file"))
        #expect(try Self.decode("0000000a" + "66" + "00000001" + "0000000168") == .handle(id: 1, Self.buffer("h")))
        #expect(try Self.decode("0000000c" + "67" + "00000004" + "00000003" + "78797a") == .data(id: 4, Self.buffer("xyz")))
        // ATTRS: size, uid/gid, permissions, times.
        let attrs = try #require(try Self.decode("00000025" + "69" + "00000009" + "0000000f" + "0000000000000400"
            + "000003e8" + "000003e8" + "000081a4" + "5f5e1000" + "5f5e1001"))
        guard case .attrs(9, let a) = attrs else { Issue.record("not ATTRS: \(attrs)"); return }
        #expect(a.size == 1024 && a.uid == 1000 && a.gid == 1000 && a.permissions == 0o100644)
        #expect(a.accessTime == 0x5f5e_1000 && a.modificationTime == 0x5f5e_1001 && a.isRegularFile == true)
        // NAME with one entry (a directory).
        let name = try #require(try Self.decode("0000001d" + "68" + "00000002" + "00000001" + "0000000178" + "00000003"
            + Self.hex(Self.buffer("drw")) + "00000004" + "000041c0"))
        guard case .name(2, let entries) = name else { Issue.record("not NAME: \(name)"); return }
        #expect(entries.count == 1 && entries[0].filename == "x" && entries[0].longname == "drw")
        #expect(entries[0].attributes.isDirectory == true && entries[0].attributes.size == nil)
    }

    @Test func partialAndMalformedPackets() throws {
        var whole = ByteBuffer()
        SFTPResponse.data(id: 1, Self.buffer(String(repeating: "z", count: 100))).encode(into: &whole)
        SFTPResponse.status(id: 2, code: .ok, message: "").encode(into: &whole)
        // Byte by byte: nothing until a packet is complete, then exactly it.
        var stream = ByteBuffer()
        var got: [SFTPResponse] = []
        for byte in whole.readableBytesView {
            stream.writeInteger(byte)
            while let r = try SFTPResponse.decode(from: &stream) { got.append(r) }
        }
        #expect(got == [.data(id: 1, Self.buffer(String(repeating: "z", count: 100))), .status(id: 2, code: .ok, message: "")])
        #expect(stream.readableBytes == 0)
        // A length past the limit, an unknown type, a truncated field: errors, not crashes.
        #expect(throws: SFTPError.self) { _ = try Self.decode("7fffffff65") }
        #expect(throws: SFTPError.self) { _ = try Self.decode("0000000563" + "00000001") }
        #expect(throws: SFTPError.self) { _ = try Self.decode("00000007" + "66" + "00000001" + "0000") }
        // A request type from a server is a protocol violation.
        #expect(throws: SFTPError.self) { _ = try Self.decode("00000009" + "03" + "00000001" + "00000000") }
    }

    @Test func encodeDecodeRoundTrip() throws {
        let attributes = SFTPAttributes(size: 5, permissions: 0o100600, accessTime: 1, modificationTime: 2)
        for r in [
            SFTPResponse.status(id: 1, code: .permissionDenied, message: "Permission denied"),
            .handle(id: 2, Self.buffer("handle-bytes")), .data(id: 3, Self.buffer("")),
            .name(id: 4, [SFTPName(filename: "0000000000000001-0000000000000001.ltx", longname: "-rw", attributes: attributes)]),
            .attrs(id: 5, attributes), .version(3, extensions: ["a": "1", "b": "2"]),
        ] {
            var b = ByteBuffer()
            r.encode(into: &b)
            #expect(try SFTPResponse.decode(from: &b) == r)
            #expect(b.readableBytes == 0)
        }
    }
}
