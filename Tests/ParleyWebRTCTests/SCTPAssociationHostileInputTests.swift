import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

private func openedPair(lossRate: Double = 0, seed: UInt64 = 1) throws -> (SCTPAssociationPair, UInt16) {
    let pair = SCTPAssociationPair(lossRate: lossRate, seed: seed)
    #expect(pair.connect(limit: .seconds(30)))
    let stream = try pair.client.openChannel(label: "target", now: pair.now)
    #expect(pair.run(until: { $0.server.openChannels.count == 1 && $0.client.bufferedAmount == 0 }, limit: .seconds(30)))
    return (pair, stream)
}

private func withChecksum(_ bytes: [UInt8]) -> [UInt8] {
    var bytes = bytes
    bytes.replaceSubrange(8..<12, with: [0, 0, 0, 0])
    let crc = CRC32.castagnoli.checksum(bytes)
    bytes.replaceSubrange(8..<12, with: [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
    return bytes
}

@Test func badPacketsAreDroppedWithReasonsAndTrafficGoesOn() throws {
    let (pair, stream) = try openedPair()
    let valid = pair.packetToServer([.heartbeat(info: [0, 1, 0, 6, 1, 2])])
    var corrupted = valid
    corrupted[13] ^= 0xFF
    #expect(pair.injectToServer(corrupted) == .dropped(.badChecksum))
    #expect(pair.injectToServer([1, 2, 3]) == .dropped(.malformedPacket))
    #expect(pair.injectToServer([]) == .dropped(.malformedPacket))
    var wrongTag = valid
    wrongTag[4] ^= 0x01
    #expect(pair.injectToServer(withChecksum(wrongTag)) == .dropped(.wrongVerificationTag))
    var wrongPort = valid
    wrongPort[1] ^= 0x01
    #expect(pair.injectToServer(withChecksum(wrongPort)) == .dropped(.wrongPorts))
    // A DATA chunk without user data next to a good HEARTBEAT: the bad chunk goes, the
    // HEARTBEAT is still answered.
    let header = Array(valid.prefix(12))
    let emptyData: [UInt8] = [0, 3, 0, 16] + [UInt8](repeating: 0, count: 12)
    #expect(pair.injectToServer(withChecksum(header + emptyData + Array(valid[12...]))) == .dropped(.malformedChunk))
    #expect(pair.lastPacketToClient.count > 12)
    let answer = try SCTPPacket(parsing: pair.lastPacketToClient)
    #expect(answer.chunks.contains(.heartbeatAck(info: [0, 1, 0, 6, 1, 2])))
    // An unknown chunk type with the high bits clear stops the packet (RFC 9260 §3.2).
    #expect(pair.injectToServer(pair.packetToServer([.unknown(type: 0x3F, flags: 0, value: []), .heartbeat(info: [9])]))
            == .dropped(.unrecognizedChunk))
    // A forged cookie.
    #expect(pair.injectToServer(pair.packetToServer([.cookieEcho(cookie: [UInt8](repeating: 7, count: 61))]))
            == .dropped(.invalidCookie))
    // DATA on a stream beyond the negotiated count (rewritten in flight), DATA far ahead of
    // the window, and a SACK for what the server never sent.
    let victim = try pair.client.openChannel(label: "victim", now: pair.now)
    var lastClientTSN: UInt32 = 0
    var lastServerTSN: UInt32 = 0
    pair.rewrite = { bytes, toServer in
        guard var packet = try? SCTPPacket(parsing: bytes) else { return bytes }
        packet.chunks = packet.chunks.map { chunk in
            guard case .data(var data) = chunk else { return chunk }
            if toServer { lastClientTSN = data.tsn } else { lastServerTSN = data.tsn }
            if data.userData == Array("wrong stream".utf8) { data.streamID = 4000 }
            return .data(data)
        }
        return packet.serialized()
    }
    try pair.client.send(.text("wrong stream"), on: victim, now: pair.now)
    try pair.server.send(.text("to the client"), on: stream, now: pair.now)
    #expect(pair.run(until: { $0.client.bufferedAmount == 0 && $0.server.bufferedAmount == 0 }, limit: .seconds(5)))
    #expect(pair.serverVerdicts.contains(.dropped(.invalidStream)))
    #expect(pair.injectToServer(pair.packetToServer([.data(SCTPDataChunk(
        tsn: lastClientTSN &+ 1_000_000, streamID: stream, streamSequenceNumber: 9, payloadProtocolIdentifier: 51,
        userData: [1]))])) == .dropped(.receiveWindowFull))
    #expect(pair.injectToServer(pair.packetToServer([.selectiveAck(
        SCTPSelectiveAck(cumulativeTSNAck: lastServerTSN &+ 1_000, advertisedReceiverWindowCredit: 1))]))
            == .dropped(.invalidAcknowledgement))
    #expect(pair.server.dropCounts[.badChecksum] == 1)
    #expect(pair.server.dropCounts[.malformedChunk] == 1)
    #expect(pair.server.dropCounts[.invalidCookie] == 1)
    #expect(pair.server.dropCounts[.invalidStream] == 1)
    #expect(pair.serverMessages(on: victim).isEmpty)
    try pair.client.send(.text("still flowing"), on: stream, now: pair.now)
    #expect(pair.run(until: { $0.serverMessages(on: stream) == [.text("still flowing")] }, limit: .seconds(5)))
    #expect(pair.server.isEstablished && pair.client.isEstablished)
}

@Test func malformedDCEPAndUserDataAreDroppedWhileTrafficGoesOn() throws {
    let (pair, stream) = try openedPair(lossRate: 0.05, seed: 4)
    // A middlebox rewrites chosen messages in flight into bad DCEP, unknown PPIDs and bad UTF-8.
    pair.rewrite = { bytes, toServer in
        guard toServer, let packet = try? SCTPPacket(parsing: bytes) else { return bytes }
        var changed = packet
        changed.chunks = packet.chunks.map { chunk in
            guard case .data(var data) = chunk else { return chunk }
            switch data.userData {
            case Array("bad-dcep".utf8):
                data.payloadProtocolIdentifier = 50
                data.userData = [0x03, 0x00, 0x01]
            case Array("bad-ppid".utf8): data.payloadProtocolIdentifier = 99
            case Array("bad-utf8".utf8): data.userData = [0xFF, 0xFE]
            case Array("dup-open".utf8):
                data.payloadProtocolIdentifier = 50
                data.userData = DCEPMessage.open(DCEPOpen(channelType: .reliable, label: "again")).serialized()
            default: return chunk
            }
            return .data(data)
        }
        return changed.serialized()
    }
    let script = ["one", "bad-dcep", "two", "bad-ppid", "three", "bad-utf8", "four", "dup-open", "five"]
    for text in script { try pair.client.send(.text(text), on: stream, now: pair.now) }
    #expect(pair.run(until: { $0.serverMessages(on: stream).count == 5 && $0.client.bufferedAmount == 0 }, limit: .seconds(30)))
    #expect(pair.serverMessages(on: stream) == ["one", "two", "three", "four", "five"].map { .text($0) })
    #expect(pair.server.dropCounts[.malformedDCEP] == 1)
    #expect(pair.server.dropCounts[.unknownPayloadProtocol] == 1)
    #expect(pair.server.dropCounts[.malformedText] == 1)
    #expect(pair.server.dropCounts[.unexpectedDCEP] == 1)
    #expect(pair.serverVerdicts.contains(.dropped(.malformedDCEP)))
}

@Test func tenThousandMutatedPacketsLeaveTheAssociationWorking() throws {
    let (pair, stream) = try openedPair()
    // Collect real packets of every kind the client sends, then mutate them at the server.
    var corpus: [[UInt8]] = []
    pair.rewrite = { bytes, toServer in
        if toServer { corpus.append(bytes) }
        return bytes
    }
    for index in 0..<20 { try pair.client.send(.text(String(repeating: "x", count: index * 200)), on: stream, now: pair.now) }
    let extra = try pair.client.openChannel(label: "extra", now: pair.now)
    pair.client.closeChannel(extra, now: pair.now)
    #expect(pair.run(until: { $0.clientEvents.contains(.channelClosed(streamID: extra)) }, limit: .seconds(5)))
    pair.rewrite = nil
    #expect(corpus.count > 10)
    var generator = SeededGenerator(seed: 0xF022)
    for _ in 0..<10_000 {
        var bytes = corpus.randomElement(using: &generator) ?? []
        switch Int.random(in: 0..<4, using: &generator) {
        case 0:
            for _ in 0..<Int.random(in: 1...4, using: &generator) where bytes.count > 12 {
                bytes[Int.random(in: 12..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
        case 1: bytes = Array(bytes.prefix(Int.random(in: 12...max(12, bytes.count), using: &generator)))
        case 2:
            if bytes.count > 16 {
                let index = Int.random(in: 12..<(bytes.count - 1), using: &generator)
                bytes[index] = UInt8.random(in: 0...255, using: &generator)
                bytes[index + 1] = UInt8.random(in: 0...255, using: &generator)
            }
        default: bytes += (0..<Int.random(in: 1...32, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        _ = pair.injectToServer(bytes.count >= 12 ? withChecksum(bytes) : bytes)
        guard pair.server.isEstablished else { break }
    }
    // Mutated ABORTs may legitimately end it; otherwise traffic must still flow.
    if pair.server.isEstablished {
        try pair.client.send(.text("survived"), on: stream, now: pair.now)
        #expect(pair.run(until: { $0.serverMessages(on: stream).last == .text("survived") }, limit: .seconds(60)))
    } else {
        #expect(pair.serverEvents.contains { if case .closed = $0 { true } else { false } })
    }
    #expect(pair.server.dropCounts.values.reduce(0, +) > 1_000)
}

@Test func heartbeatIsAnsweredWithItsInfo() throws {
    let (pair, _) = try openedPair()
    let info: [UInt8] = [0, 1, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8]
    #expect(pair.injectToServer(pair.packetToServer([.heartbeat(info: info)])) == .accepted)
    #expect(try SCTPPacket(parsing: pair.lastPacketToClient).chunks == [.heartbeatAck(info: info)])
}

@Test func staleCookieIsRefused() {
    let pair = SCTPAssociationPair()
    var cookie: [UInt8] = []
    // Keep the server's INIT-ACK from the client and return its cookie after it went stale.
    pair.rewrite = { bytes, toServer in
        if !toServer, cookie.isEmpty, let packet = try? SCTPPacket(parsing: bytes),
           case .initiationAck(let ack) = packet.chunks.first {
            cookie = ack.stateCookie ?? []
        }
        return toServer ? bytes : []
    }
    pair.client.connect(now: pair.now)
    pair.advance(by: .milliseconds(50))
    #expect(cookie.count == SCTPStateCookie.sealedLength)
    pair.advance(by: .seconds(61))
    // The sealed cookie starts with the server's own tag, which the COOKIE-ECHO must carry.
    let serverTag = cookie.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    let echo = SCTPPacket(header: SCTPCommonHeader(sourcePort: 5000, destinationPort: 5000, verificationTag: serverTag),
                          chunks: [.cookieEcho(cookie: cookie)]).serialized()
    #expect(pair.injectToServer(echo) == .dropped(.staleCookie))
    #expect(!pair.server.isEstablished)
}
