import Testing
import LTX

struct CRC64Tests {
    @Test func checkValue() {
        #expect(CRC64.checksum(Array("123456789".utf8)) == 0xB909_56C7_75A4_1001)
    }
}
