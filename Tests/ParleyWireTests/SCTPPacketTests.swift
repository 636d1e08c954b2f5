import ParleyTestSupport
import ParleyWire
import Testing

/// Sample packets covering every chunk kind Parley models.
let sampleSCTPPackets: [SCTPPacket] = {
    let header = SCTPCommonHeader(sourcePort: 5000, destinationPort: 5000, verificationTag: 0xDEAD_BEEF)
    let initiation = SCTPInitChunk(
        initiateTag: 0x1234_5678, advertisedReceiverWindowCredit: 131_072, outboundStreams: 1024, inboundStreams: 1024,
        initialTSN: 0xFFFF_FFF0,
        parameters: [.forwardTSNSupported, .supportedExtensions([192, 130]), .unknown(type: 0x8001, value: [1, 2, 3])])
    var initiationAck = initiation
    initiationAck.parameters.append(.stateCookie(Array(0..<61)))
    return [
        SCTPPacket(header: SCTPCommonHeader(sourcePort: 5000, destinationPort: 5000, verificationTag: 0),
                   chunks: [.initiation(initiation)]),
        SCTPPacket(header: header, chunks: [.initiationAck(initiationAck)]),
        SCTPPacket(header: header, chunks: [.cookieEcho(cookie: Array(0..<61)), .cookieAck]),
        SCTPPacket(header: header, chunks: [
            .selectiveAck(SCTPSelectiveAck(cumulativeTSNAck: 7, advertisedReceiverWindowCredit: 1000,
                                           gapAckBlocks: [.init(start: 2, end: 3), .init(start: 5, end: 9)],
                                           duplicateTSNs: [4])),
            .data(SCTPDataChunk(tsn: 8, streamID: 1, streamSequenceNumber: 3, payloadProtocolIdentifier: 51,
                                isUnordered: true, isBeginning: true, isEnding: false, isImmediate: true, userData: [1, 2, 3])),
            .data(SCTPDataChunk(tsn: 9, streamID: 1, streamSequenceNumber: 3, payloadProtocolIdentifier: 51, userData: Array("hello".utf8))),
        ]),
        SCTPPacket(header: header, chunks: [.heartbeat(info: [0, 1, 0, 8, 9, 9, 9, 9]), .heartbeatAck(info: [0, 1, 0, 5, 7])]),
        SCTPPacket(header: header, chunks: [
            .abort(reflectedTag: true, causes: [SCTPErrorCause(code: 12, information: Array("bye".utf8))]),
        ]),
        SCTPPacket(header: header, chunks: [.shutdown(cumulativeTSNAck: 99), .shutdownAck, .shutdownComplete(reflectedTag: false)]),
        SCTPPacket(header: header, chunks: [.operationError(causes: [SCTPErrorCause(code: 1, information: [0, 9, 0, 0])])]),
        SCTPPacket(header: header, chunks: [
            .forwardTSN(SCTPForwardTSN(newCumulativeTSN: 77, skippedStreams: [.init(streamID: 2, streamSequenceNumber: 5)])),
        ]),
        SCTPPacket(header: header, chunks: [
            .reconfig([.outgoingResetRequest(requestSequence: 10, responseSequence: 20, senderLastAssignedTSN: 30, streams: [1]),
                       .response(responseSequence: 21, result: .successPerformed)]),
            .reconfig([.incomingResetRequest(requestSequence: 11, streams: [2, 4])]),
            .unknown(type: 0xC1, flags: 3, value: [1, 2, 3, 4, 5]),
        ]),
    ]
}()

@Test func crc32cMatchesTheCheckValue() {
    #expect(CRC32.castagnoli.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32.castagnoli.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
}

@Test func packetsRoundTrip() throws {
    for packet in sampleSCTPPackets {
        let bytes = packet.serialized()
        #expect(bytes.count % 4 == 0)
        #expect(try SCTPPacket(parsing: bytes) == packet)
    }
}

@Test func checksumIsWrittenLeastSignificantByteFirst() {
    // A COOKIE-ACK packet; the checksum bytes must be the CRC-32c in little-endian order
    // (RFC 9260 Appendix B), as Linux, usrsctp and dcSCTP expect.
    let packet = SCTPPacket(header: SCTPCommonHeader(sourcePort: 5000, destinationPort: 5000, verificationTag: 1),
                            chunks: [.cookieAck]).serialized()
    var zeroed = packet
    zeroed.replaceSubrange(8..<12, with: [0, 0, 0, 0])
    let crc = CRC32.castagnoli.checksum(zeroed)
    #expect(Array(packet[8..<12]) == [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
}

@Test func initAdvertisesExtensions() throws {
    let packet = try SCTPPacket(parsing: sampleSCTPPackets[0].serialized())
    guard case .initiation(let initiation) = packet.chunks.first else { Issue.record("not INIT"); return }
    #expect(initiation.supportsForwardTSN)
    #expect(initiation.supportsReconfig)
    #expect(!initiation.hasParameterThatStopsProcessing)
}

@Test func lastParameterPaddingIsNotCountedInChunkLength() {
    // Supported Extensions with three types needs one byte of padding, which the chunk
    // length excludes when the parameter is last (RFC 9260 §3.2).
    let initiation = SCTPInitChunk(initiateTag: 1, advertisedReceiverWindowCredit: 1, outboundStreams: 1,
                                   inboundStreams: 1, initialTSN: 1, parameters: [.supportedExtensions([192, 130, 193])])
    var bytes: [UInt8] = []
    SCTPChunk.initiation(initiation).append(to: &bytes)
    #expect(Int(bytes[2]) << 8 | Int(bytes[3]) == 4 + 16 + 7)
    #expect(bytes.count == 28)
}

@Test func malformedPacketsThrowTypedErrors() {
    let valid = sampleSCTPPackets[3].serialized()
    #expect(throws: SCTPParseError.packetTooShort(byteCount: 11)) { try SCTPPacket(parsing: Array(valid.prefix(11))) }
    var corrupted = valid
    corrupted[20] ^= 0x40
    #expect {
        try SCTPPacket(parsing: corrupted)
    } throws: { error in
        if case SCTPParseError.checksumMismatch = error { return true }
        return false
    }
    func withChecksum(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        bytes.replaceSubrange(8..<12, with: [0, 0, 0, 0])
        let crc = CRC32.castagnoli.checksum(bytes)
        bytes.replaceSubrange(8..<12, with: [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
        return bytes
    }
    let header = Array(valid.prefix(12))
    #expect(throws: SCTPParseError.chunkOverrun(type: 0)) { try SCTPPacket(parsing: withChecksum(header + [0, 3, 0, 40])) }
    #expect(throws: SCTPParseError.chunkOverrun(type: 0)) { try SCTPPacket(parsing: withChecksum(header + [0, 3, 0, 2])) }
    #expect(throws: SCTPParseError.emptyUserData) {
        try SCTPPacket(parsing: withChecksum(header + [0, 3, 0, 16] + [UInt8](repeating: 0, count: 12)))
    }
    #expect(throws: SCTPParseError.chunkTooShort(type: 0, length: 8)) {
        try SCTPPacket(parsing: withChecksum(header + [0, 3, 0, 12] + [UInt8](repeating: 0, count: 8)))
    }
    #expect(throws: SCTPParseError.chunkLengthMismatch(type: 3)) {
        try SCTPPacket(parsing: withChecksum(header + [3, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0]))
    }
    #expect(throws: SCTPParseError.invalidInitiation(reason: "zero initiate tag")) {
        try SCTPPacket(parsing: withChecksum(header + [1, 0, 0, 20] + [UInt8](repeating: 0, count: 16)))
    }
    #expect(throws: SCTPParseError.parameterOverrun(type: 13)) {
        try SCTPPacket(parsing: withChecksum(header + [130, 0, 0, 8, 0, 13, 0, 99]))
    }
    #expect(throws: SCTPParseError.malformedParameter(type: 16)) {
        try SCTPPacket(parsing: withChecksum(header + [130, 0, 0, 12, 0, 16, 0, 8, 0, 0, 0, 1]))
    }
}

@Test func leniencyKeepsGoodChunksNextToABadOne() throws {
    var bytes = Array(sampleSCTPPackets[6].serialized())
    // Turn SHUTDOWN (length 8) into a too-short SHUTDOWN whose slack becomes a zero-length pad.
    bytes[12 + 3] = 4
    bytes.replaceSubrange(16..<20, with: [])
    bytes.replaceSubrange(8..<12, with: [0, 0, 0, 0])
    let crc = CRC32.castagnoli.checksum(bytes)
    bytes.replaceSubrange(8..<12, with: [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
    let (_, chunks) = try SCTPPacket.parseLeniently(bytes)
    #expect(chunks.count == 3)
    #expect(throws: SCTPParseError.chunkTooShort(type: 7, length: 0)) { try chunks[0].get() }
    #expect(try chunks[1].get() == .shutdownAck)
}

@Test func stateCookieOpensOnlyWithItsKeyAndIntact() throws {
    let key = SCTPStateCookie.Key()
    let cookie = SCTPStateCookie(localTag: 1, peerTag: 2, peerInitialTSN: 3, peerReceiverWindow: 4, peerOutboundStreams: 5,
                                 peerInboundStreams: 6, peerSupportsForwardTSN: true, peerSupportsReconfig: false,
                                 createdAt: -7)
    let sealed = cookie.sealed(key: key)
    #expect(try SCTPStateCookie(opening: sealed, key: key) == cookie)
    #expect(throws: SCTPStateCookie.OpenError.badMAC) { try SCTPStateCookie(opening: sealed, key: SCTPStateCookie.Key()) }
    var tampered = sealed
    tampered[4] ^= 1
    #expect(throws: SCTPStateCookie.OpenError.badMAC) { try SCTPStateCookie(opening: tampered, key: key) }
    #expect(throws: SCTPStateCookie.OpenError.wrongLength(3)) { try SCTPStateCookie(opening: [1, 2, 3], key: key) }
}
