import ParleyTestSupport
import Testing
import ParleyWire

private let block = RTCPReportBlock(
    ssrc: 0xAABB_CCDD, fractionLost: 25, cumulativeLost: -3, extendedHighestSequence: 0x0001_0010,
    jitter: 120, lastSenderReport: 0x1234_5678, delaySinceLastSenderReport: 65_536)

@Test func senderReportWithSourceDescriptionRoundTrips() throws {
    let packets: [RTCPPacket] = [
        .senderReport(RTCPSenderReport(ssrc: 1, ntpTimestamp: 0xE000_0000_8000_0000, rtpTimestamp: 48_000,
                                       packetCount: 50, octetCount: 4_000, reportBlocks: [block])),
        .sourceDescription(RTCPSourceDescription(ssrc: 1, cname: "parley-cname")),
    ]
    let bytes = RTCPCompoundPacket.encode(packets)
    #expect(bytes.count == 28 + 24 + 4 + 4 + 2 + 12 + 2)
    #expect(Array(bytes[0..<4]) == [0x81, 200, 0x00, 0x0C])
    let parsed = try RTCPCompoundPacket.parse(bytes)
    #expect(parsed == packets)
    guard case .sourceDescription(let description) = parsed[1] else {
        Issue.record("no SDES")
        return
    }
    #expect(description.cname == "parley-cname")
}

@Test func receiverReportRoundTripsWithSignedCumulativeLoss() throws {
    var extremes = block
    extremes.cumulativeLost = -0x80_0000
    var clamped = block
    clamped.cumulativeLost = 0x7FFF_FFFF
    let packets: [RTCPPacket] = [.receiverReport(RTCPReceiverReport(ssrc: 9, reportBlocks: [block, extremes, clamped]))]
    let parsed = try RTCPCompoundPacket.parse(RTCPCompoundPacket.encode(packets))
    guard case .receiverReport(let report) = parsed.first else {
        Issue.record("no RR")
        return
    }
    #expect(report.reportBlocks.map(\.cumulativeLost) == [-3, -0x80_0000, 0x7F_FFFF])
    #expect(report.reportBlocks[0] == block)
    let empty: [RTCPPacket] = [.receiverReport(RTCPReceiverReport(ssrc: 9))]
    #expect(RTCPCompoundPacket.encode(empty) == [0x80, 201, 0, 1, 0, 0, 0, 9])
    #expect(try RTCPCompoundPacket.parse(RTCPCompoundPacket.encode(empty)) == empty)
}

@Test func byeAndMultiChunkSourceDescriptionRoundTrip() throws {
    let packets: [RTCPPacket] = [
        .sourceDescription(RTCPSourceDescription(chunks: [
            .init(ssrc: 1, items: [.init(type: 1, value: Array("abc".utf8)), .init(type: 6, value: Array("tool".utf8))]),
            .init(ssrc: 2, items: []),
        ])),
        .bye(RTCPBye(sources: [1, 2], reason: "done")),
        .bye(RTCPBye(sources: [3])),
    ]
    let bytes = RTCPCompoundPacket.encode(packets)
    #expect(bytes.count % 4 == 0)
    #expect(try RTCPCompoundPacket.parse(bytes) == packets)
}

/// Found by the `rtcp` fuzz target: a BYE reason of invalid UTF-8 was decoded with
/// replacement characters (3 bytes each), so it re-encoded longer than the 255 bytes its
/// length field holds and came back cut short.
@Test func byeReasonThatIsNotUTF8IsDroppedAndTheSourcesStillLeave() throws {
    let reason: [UInt8] = [UInt8](repeating: 0xFF, count: 100) + Array("bye".utf8)
    var body: [UInt8] = [0, 0, 0, 7, UInt8(reason.count)] + reason
    while body.count % 4 != 0 { body.append(0) }
    let bytes: [UInt8] = [0x81, 203, 0, UInt8(body.count / 4)] + body
    let packets = try RTCPCompoundPacket.parse(bytes)
    #expect(packets == [.bye(RTCPBye(sources: [7]))])
    #expect(try RTCPCompoundPacket.parse(RTCPCompoundPacket.encode(packets)) == packets)
}

@Test func byeReasonLongerThan255BytesIsCutAtACharacterBoundary() throws {
    let reason = String(repeating: "é", count: 200)  // 400 bytes of UTF-8
    let packets = try RTCPCompoundPacket.parse(RTCPCompoundPacket.encode([.bye(RTCPBye(sources: [1], reason: reason))]))
    #expect(packets == [.bye(RTCPBye(sources: [1], reason: String(repeating: "é", count: 127)))])
}

@Test func genericNACKRoundTripsAndListsLostSequenceNumbers() throws {
    let lost: [UInt16] = [100, 101, 105, 116, 117, 65_534, 65_535, 0, 3, 101]
    let nack = RTCPGenericNACK(senderSSRC: 1, mediaSSRC: 2, lostSequenceNumbers: lost)
    #expect(nack.items == [
        .init(packetID: 100, lostBitmask: 0b1000_0000_0001_0001),
        .init(packetID: 117),
        .init(packetID: 65_534, lostBitmask: 0b1_0011),
    ])
    #expect(Set(nack.lostSequenceNumbers) == Set(lost))
    #expect(nack.lostSequenceNumbers.count == Set(lost).count)
    let bytes = RTCPCompoundPacket.encode([.genericNACK(nack)])
    #expect(Array(bytes[0..<4]) == [0x81, 205, 0x00, 0x05])
    #expect(try RTCPCompoundPacket.parse(bytes) == [.genericNACK(nack)])
}

@Test func unknownPacketsAndPaddingAreHandled() throws {
    // A PLI (PT 206, FMT 1) kept whole, then an RR padded with 4 bytes.
    let pli: [UInt8] = [0x81, 206, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2]
    let paddedRR: [UInt8] = [0xA0, 201, 0x00, 0x02, 0, 0, 0, 9, 0, 0, 0, 4]
    let parsed = try RTCPCompoundPacket.parse(pli + paddedRR)
    #expect(parsed == [.other(packetType: 206, bytes: pli), .receiverReport(RTCPReceiverReport(ssrc: 9))])
    #expect(RTCPCompoundPacket.encode([parsed[0]]) == pli)
}

@Test func rejectsMalformedCompoundPackets() {
    let valid = RTCPCompoundPacket.encode([.receiverReport(RTCPReceiverReport(ssrc: 9, reportBlocks: [block]))])
    #expect(throws: RTCPParseError.empty) { try RTCPCompoundPacket.parse([]) }
    #expect(throws: RTCPParseError.truncatedHeader(offset: valid.count)) { try RTCPCompoundPacket.parse(valid + [0x80, 201]) }
    #expect(throws: RTCPParseError.lengthOverrun(offset: 0, declared: 32, available: 31)) {
        try RTCPCompoundPacket.parse(Array(valid.dropLast()))
    }
    var overrun = valid
    overrun[3] = 0xFF
    #expect(throws: RTCPParseError.lengthOverrun(offset: 0, declared: 1024, available: 32)) { try RTCPCompoundPacket.parse(overrun) }
    var version = valid
    version[0] = 0x41
    #expect(throws: RTCPParseError.badVersion(offset: 0, version: 1)) { try RTCPCompoundPacket.parse(version) }
    var count = valid
    count[0] = 0x82 // two report blocks announced, one present
    #expect(throws: RTCPParseError.malformedBody(offset: 0, packetType: 201)) { try RTCPCompoundPacket.parse(count) }
    var padding = valid
    padding[0] |= 0x20
    padding[padding.count - 1] = 0xFF
    #expect(throws: RTCPParseError.badPadding(offset: 0)) { try RTCPCompoundPacket.parse(padding) }
    let unterminatedSDES: [UInt8] = [0x81, 202, 0x00, 0x02, 0, 0, 0, 1, 1, 3, 0x61, 0x62]
    #expect(throws: RTCPParseError.malformedBody(offset: 0, packetType: 202)) { try RTCPCompoundPacket.parse(unterminatedSDES) }
    let shortNACK: [UInt8] = [0x81, 205, 0x00, 0x01, 0, 0, 0, 1]
    #expect(throws: RTCPParseError.malformedBody(offset: 0, packetType: 205)) { try RTCPCompoundPacket.parse(shortNACK) }
    let byeReasonOverrun: [UInt8] = [0x81, 203, 0x00, 0x02, 0, 0, 0, 1, 9, 0x61, 0x62, 0x63]
    #expect(throws: RTCPParseError.malformedBody(offset: 0, packetType: 203)) { try RTCPCompoundPacket.parse(byeReasonOverrun) }
}

@Test func mutatedCompoundPacketsNeverCrashTheParser() {
    var generator = SeededGenerator(seed: 4585)
    let seed = RTCPCompoundPacket.encode([
        .senderReport(RTCPSenderReport(ssrc: 1, ntpTimestamp: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5,
                                       reportBlocks: [block])),
        .sourceDescription(RTCPSourceDescription(ssrc: 1, cname: "c")),
        .genericNACK(RTCPGenericNACK(senderSSRC: 1, mediaSSRC: 2, lostSequenceNumbers: [1, 2, 40])),
        .bye(RTCPBye(sources: [1], reason: "bye")),
    ])
    var parsedCount = 0
    for _ in 0..<10_000 {
        let bytes = mutate(seed, using: &generator)
        guard let packets = try? RTCPCompoundPacket.parse(bytes) else { continue }
        parsedCount += 1
        #expect(!packets.isEmpty)
        _ = RTCPCompoundPacket.encode(packets)
    }
    #expect(parsedCount > 100)
}
