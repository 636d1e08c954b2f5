import Testing
import ParleyWire

@Test func demultiplexesByFirstByte() {
    #expect(PacketKind(sampleCheck()) == .stun)
    #expect(PacketKind([0x16, 0xFE, 0xFD]) == .dtls)
    #expect(PacketKind([0x80, 0x6F]) == .rtp)
    #expect(PacketKind([0x80, 0xEF]) == .rtp)
    #expect(PacketKind([0x80, 0xC8]) == .rtcp)
    #expect(PacketKind([0x81, 0xCD]) == .rtcp)
    #expect(PacketKind([0xA0, 0xDF]) == .rtcp)
    #expect(PacketKind([0x80, 0xE0]) == .rtp)
    #expect(PacketKind([]) == .unknown)
    #expect(PacketKind([0x80]) == .unknown)
    for byte in [UInt8(4), 16, 19, 64, 79, 127, 192, 255] {
        #expect(PacketKind([byte, 0]) == .unknown, "\(byte)")
    }
    #expect(PacketKind([UInt8(3), 0][...]) == .stun)
    #expect(PacketKind([UInt8(63)]) == .dtls)
    #expect(PacketKind([RelayEncapsulation.marker, 0x14]) == .relayed)
}
