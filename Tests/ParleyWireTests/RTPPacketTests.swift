import ParleyTestSupport
import Testing
import ParleyWire

@Test func plainPacketRoundTripsAndMatchesTheWireLayout() throws {
    let packet = RTPPacket(marker: true, payloadType: 111, sequenceNumber: 0x1234, timestamp: 0xDEAD_BEEF,
                           ssrc: 0x0102_0304, payload: [9, 8, 7])
    let bytes = packet.encoded()
    #expect(bytes == [0x80, 0xEF, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04, 9, 8, 7])
    #expect(try RTPPacket(parsing: bytes) == packet)
}

@Test func csrcsRoundTrip() throws {
    let packet = RTPPacket(payloadType: 0, sequenceNumber: 1, timestamp: 2, ssrc: 3, csrcs: [10, 20, 0xFFFF_FFFF], payload: [1])
    let bytes = packet.encoded()
    #expect(bytes[0] == 0x83)
    #expect(bytes.count == 12 + 12 + 1)
    #expect(try RTPPacket(parsing: bytes) == packet)
}

@Test func oneByteHeaderExtensionsRoundTrip() throws {
    let packet = RTPPacket(
        payloadType: 111, sequenceNumber: 7, timestamp: 960, ssrc: 42,
        extensionProfile: RTPPacket.oneByteExtensionProfile,
        extensions: [RTPHeaderExtension(id: 1, data: [0x80]), RTPHeaderExtension(id: 3, data: [1, 2, 3]),
                     RTPHeaderExtension(id: 14, data: Array(repeating: 0xAB, count: 16))],
        payload: [0xFC, 0xFF, 0xFE])
    let bytes = packet.encoded()
    #expect(bytes[0] & 0x10 != 0)
    #expect(Array(bytes[12..<18]) == [0xBE, 0xDE, 0x00, 0x06, 0x10, 0x80])
    #expect(try RTPPacket(parsing: bytes) == packet)
}

@Test func twoByteHeaderExtensionsRoundTrip() throws {
    let packet = RTPPacket(
        payloadType: 96, sequenceNumber: 65_535, timestamp: 0, ssrc: 1,
        extensionProfile: 0x1003,
        extensions: [RTPHeaderExtension(id: 200, data: []), RTPHeaderExtension(id: 2, data: Array(0..<40))],
        payload: [1, 2])
    let bytes = packet.encoded()
    #expect(Array(bytes[12..<14]) == [0x10, 0x03])
    #expect(try RTPPacket(parsing: bytes) == packet)
}

@Test func elementsTooLargeForOneByteFormUseTwoByteForm() throws {
    let packet = RTPPacket(payloadType: 96, sequenceNumber: 1, timestamp: 1, ssrc: 1,
                           extensions: [RTPHeaderExtension(id: 15, data: [1])])
    let parsed = try RTPPacket(parsing: packet.encoded())
    #expect(parsed.extensionProfile == RTPPacket.twoByteExtensionProfile)
    #expect(parsed.extensions == packet.extensions)
}

@Test func oneByteParsingSkipsPaddingAndStopsAtID15() throws {
    // Padding byte, element id 2 (2 bytes), id 15 stops parsing, trailing bytes ignored.
    let bytes: [UInt8] = [0x90, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xBE, 0xDE, 0x00, 0x02,
                          0x00, 0x21, 0xAA, 0xBB, 0xF0, 0x99, 0x99, 0x99, 0x55]
    let packet = try RTPPacket(parsing: bytes)
    #expect(packet.extensions == [RTPHeaderExtension(id: 2, data: [0xAA, 0xBB])])
    #expect(packet.payload == [0x55])
}

// Found by the rtp fuzz target (Fuzz/): 0x06 was read as an element with ID 0 and 7 bytes of
// data, which the encoder drops, so the packet did not survive encode and parse.
@Test func oneByteIDZeroIsPaddingWhateverItsLength() throws {
    let bytes: [UInt8] = [0x90, 0x6F, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xBE, 0xDE, 0x00, 0x03,
                          0x06, 1, 2, 3, 4, 5, 6, 7, 0x10, 0xAA, 0, 0, 0x55]
    let packet = try RTPPacket(parsing: bytes)
    #expect(packet.extensions == [RTPHeaderExtension(id: 1, data: [0xAA])])
    #expect(try RTPPacket(parsing: packet.encoded()) == packet)
}

@Test func otherExtensionProfilesAreKeptOpaque() throws {
    let packet = RTPPacket(payloadType: 8, sequenceNumber: 1, timestamp: 1, ssrc: 1, extensionProfile: 0xABCD,
                           extensionData: [1, 2, 3, 4, 5, 6, 7, 8], payload: [0])
    let parsed = try RTPPacket(parsing: packet.encoded())
    #expect(parsed == packet)
}

@Test func paddingIsStrippedAndRestored() throws {
    let packet = RTPPacket(payloadType: 111, sequenceNumber: 5, timestamp: 6, ssrc: 7, payload: [1, 2, 3], paddingLength: 5)
    let bytes = packet.encoded()
    #expect(bytes[0] & 0x20 != 0)
    #expect(Array(bytes.suffix(5)) == [0, 0, 0, 0, 5])
    let parsed = try RTPPacket(parsing: bytes)
    #expect(parsed.payload == [1, 2, 3])
    #expect(parsed.paddingLength == 5)
    #expect(parsed.encoded() == bytes)
}

@Test func rejectsMalformedPackets() {
    let valid = RTPPacket(payloadType: 111, sequenceNumber: 5, timestamp: 6, ssrc: 7, csrcs: [1],
                          extensionProfile: RTPPacket.oneByteExtensionProfile,
                          extensions: [RTPHeaderExtension(id: 1, data: [1, 2])], payload: [1, 2, 3]).encoded()
    #expect(throws: RTPParseError.tooShort(byteCount: 11)) { try RTPPacket(parsing: Array(valid.prefix(11))) }
    var version = valid
    version[0] = 0x40 | (valid[0] & 0x3F)
    #expect(throws: RTPParseError.badVersion(1)) { try RTPPacket(parsing: version) }
    var csrcs = valid
    csrcs[0] = 0x9F
    #expect(throws: RTPParseError.csrcOverrun(count: 15)) { try RTPPacket(parsing: csrcs) }
    #expect(throws: RTPParseError.extensionOverrun) { try RTPPacket(parsing: Array(valid.prefix(22))) }
    var element = valid
    element[20] = 0x1F // id 1, 16 bytes: runs past the 4-byte extension body
    #expect(throws: RTPParseError.malformedExtensionElement(offset: 0)) { try RTPPacket(parsing: element) }
    var zeroPadding = valid
    zeroPadding[0] |= 0x20
    zeroPadding[zeroPadding.count - 1] = 0
    #expect(throws: RTPParseError.badPadding(count: 0)) { try RTPPacket(parsing: zeroPadding) }
    var hugePadding = valid
    hugePadding[0] |= 0x20
    hugePadding[hugePadding.count - 1] = 4
    #expect(throws: RTPParseError.badPadding(count: 4)) { try RTPPacket(parsing: hugePadding) }
}

@Test func mutatedPacketsNeverCrashTheParser() {
    var generator = SeededGenerator(seed: 3550)
    let seeds = [
        RTPPacket(payloadType: 111, sequenceNumber: 5, timestamp: 6, ssrc: 7, csrcs: [1, 2],
                  extensionProfile: RTPPacket.oneByteExtensionProfile,
                  extensions: [RTPHeaderExtension(id: 1, data: [1, 2])], payload: [1, 2, 3], paddingLength: 3).encoded(),
        RTPPacket(payloadType: 96, sequenceNumber: 5, timestamp: 6, ssrc: 7, extensionProfile: 0x1000,
                  extensions: [RTPHeaderExtension(id: 9, data: Array(0..<20))], payload: [1]).encoded(),
    ]
    var parsedCount = 0
    for round in 0..<10_000 {
        let bytes = mutate(seeds[round % seeds.count], using: &generator)
        guard let packet = try? RTPPacket(parsing: bytes) else { continue }
        parsedCount += 1
        let reparsed = try? RTPPacket(parsing: packet.encoded())
        #expect(reparsed?.payload == packet.payload)
        #expect(reparsed?.csrcs == packet.csrcs)
    }
    #expect(parsedCount > 100)
}
