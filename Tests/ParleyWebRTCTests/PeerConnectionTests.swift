import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

@Suite struct PeerConnectionTests {
    static func isConnected(_ events: [PeerConnection.Event]) -> Bool {
        events.contains { if case .dtlsConnected = $0 { return true } else { return false } }
    }

    static func audio(_ events: [PeerConnection.Event]) -> [PeerConnection.ReceivedAudio] {
        events.compactMap { if case .audio(let audio) = $0 { return audio } else { return nil } }
    }

    @Test func clientAndServerConnectAndExchangeSRTP() throws {
        let pair = try PeerPair()
        #expect(pair.run(until: { Self.isConnected($0.serverEvents) && Self.isConnected($0.clientEvents) }, limit: .seconds(5)))
        #expect(pair.serverEvents.first == .iceConnected(PeerPair.clientAddress))
        // ICE check, response, then DTLS: 2 round trips of 20 ms each, with the server starting DTLS.
        #expect(pair.elapsed < .milliseconds(100))
        for frame in 0..<10 {
            pair.client.sendAudio([0xF8, UInt8(frame)], mediaTime: UInt32(frame) * 960, marker: frame == 0, now: pair.now)
            pair.server.sendAudio([0xF8, 0x80 | UInt8(frame)], mediaTime: UInt32(frame) * 960, marker: frame == 0, now: pair.now)
            pair.advance(by: .milliseconds(20))
        }
        pair.advance(by: .milliseconds(50))
        #expect(Self.audio(pair.serverEvents).map(\.payload) == (0..<10).map { [0xF8, UInt8($0)] })
        #expect(Self.audio(pair.clientEvents).map(\.payload) == (0..<10).map { [0xF8, 0x80 | UInt8($0)] })
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func tenPercentLossStillConnectsAndCarriesSRTP(seed: UInt64) throws {
        let pair = try PeerPair(lossRate: 0.10, seed: seed)
        #expect(pair.run(until: { Self.isConnected($0.serverEvents) && Self.isConnected($0.clientEvents) }, limit: .seconds(20)))
        for frame in 0..<100 {
            pair.client.sendAudio([0xF8, UInt8(frame)], mediaTime: UInt32(frame) * 960, marker: false, now: pair.now)
            pair.advance(by: .milliseconds(20))
        }
        pair.advance(by: .milliseconds(100))
        let received = Self.audio(pair.serverEvents).count
        #expect(received > 75 && received < 100, "received \(received) of 100 at 10% loss")
        #expect(pair.datagramsLost > 0)
    }

    @Test func rtcpReportsMeasureRoundTripTime() throws {
        let pair = try PeerPair(oneWayDelay: .milliseconds(25))
        #expect(pair.run(until: { Self.isConnected($0.serverEvents) && Self.isConnected($0.clientEvents) }, limit: .seconds(5)))
        for frame in 0..<150 {
            pair.client.sendAudio([0xF8], mediaTime: UInt32(frame) * 960, marker: false, now: pair.now)
            pair.server.sendAudio([0xF8], mediaTime: UInt32(frame) * 960, marker: false, now: pair.now)
            pair.advance(by: .milliseconds(20))
        }
        pair.advance(by: .milliseconds(50))
        let rtt = try #require(pair.client.statistics.roundTripTime)
        #expect(rtt >= .milliseconds(49) && rtt <= .milliseconds(52), "rtt \(rtt)")
        #expect(pair.server.statistics.receive?.packetsReceived == 150)
    }

    @Test func closeSendsByeAndEndsThePeer() throws {
        let pair = try PeerPair()
        #expect(pair.run(until: { Self.isConnected($0.serverEvents) && Self.isConnected($0.clientEvents) }, limit: .seconds(5)))
        pair.client.sendAudio([0xF8], mediaTime: 0, marker: true, now: pair.now)
        pair.advance(by: .milliseconds(30))
        pair.client.close(now: pair.now)
        pair.advance(by: .milliseconds(30))
        #expect(pair.clientEvents.last == .closed(.localClose))
        #expect(pair.server.isClosed)
        let reason = pair.serverEvents.compactMap { if case .closed(let reason) = $0 { return reason } else { return nil } }
        #expect(reason == [.rtcpBye] || reason == [.dtlsClosed])
    }

    @Test func consentExpiresWhenTheClientGoesSilent() throws {
        let pair = try PeerPair(lossRate: 0)
        #expect(pair.run(until: { Self.isConnected($0.serverEvents) }, limit: .seconds(5)))
        pair.client.close(now: pair.now)
        // Drop everything from now on by not delivering: the server hears nothing more.
        let lonely = pair.server
        var now = pair.now
        while !lonely.isClosed, now < pair.now + .seconds(40) {
            now = lonely.nextDeadline() ?? now + .seconds(1)
            lonely.handleTimeout(now: now)
        }
        #expect(lonely.isClosed)
        #expect(now - pair.now >= .seconds(29))
    }

    @Test func serverWithoutAnyCheckTimesOut() throws {
        let pair = try PeerPair()
        let start = pair.now
        pair.server.handleTimeout(now: start + .seconds(29))
        #expect(!pair.server.isClosed)
        pair.server.handleTimeout(now: start + .seconds(31))
        #expect(pair.server.isClosed)
        var reasons: [PeerConnection.CloseReason] = []
        while let event = pair.server.pollEvent() { if case .closed(let reason) = event { reasons.append(reason) } }
        #expect(reasons == [.iceTimeout])
    }

    @Test func garbageAndUnvalidatedSourcesAreDropped() throws {
        let pair = try PeerPair()
        var generator = SeededGenerator(seed: 99)
        for _ in 0..<2_000 {
            let length = Int.random(in: 0...300, using: &generator)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let verdict = pair.server.handle(bytes, from: PeerPair.clientAddress, now: pair.now)
            #expect(verdict != .accepted)
        }
        #expect(pair.server.pollTransmit() == nil)
        #expect(pair.run(until: { Self.isConnected($0.serverEvents) && Self.isConnected($0.clientEvents) }, limit: .seconds(5)))
        let stranger = PeerAddress("203.0.113.9:4000")!
        #expect(pair.server.handle([0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], from: stranger, now: pair.now) == .dropped(.unvalidatedSource))
        #expect(pair.server.handle([22, 254, 253], from: stranger, now: pair.now) == .dropped(.unvalidatedSource))
    }
}

@Suite struct PeerConnectionDataChannelTests {
    static func opened(_ events: [PeerConnection.Event]) -> DataChannel.Info? {
        for case .dataChannel(.channelOpened(let info)) in events { return info }
        return nil
    }

    static func messages(_ events: [PeerConnection.Event]) -> [DataChannel.Message] {
        events.compactMap { if case .dataChannel(.message(_, let message)) = $0 { message } else { nil } }
    }

    @Test func aChannelOpensTwoRoundTripsAfterDTLSAndCarriesMessages() throws {
        let pair = try PeerPair(oneWayDelay: .milliseconds(10), dataChannels: true)
        #expect(pair.run(until: { PeerConnectionTests.isConnected($0.clientEvents) }, limit: .seconds(5)))
        let dtlsDone = pair.now
        #expect(pair.run(until: { $0.clientEvents.contains(.dataChannel(.connected)) }, limit: .seconds(5)))
        // SCTP: INIT, INIT-ACK, COOKIE-ECHO, COOKIE-ACK (both sides send INIT at once: 2 round trips at most).
        #expect(pair.now - dtlsDone <= .milliseconds(40), "association after \(pair.now - dtlsDone)")
        let stream = try pair.client.openDataChannel(label: "oai-events", now: pair.now)
        #expect(pair.run(until: { Self.opened($0.serverEvents) != nil && Self.opened($0.clientEvents) != nil }, limit: .seconds(5)))
        #expect(Self.opened(pair.serverEvents)?.label == "oai-events")
        try pair.client.sendDataChannelMessage(.text(#"{"type":"session.update"}"#), on: stream, now: pair.now)
        let serverStream = try #require(Self.opened(pair.serverEvents)).streamID
        try pair.server.sendDataChannelMessage(.binary([1, 2, 3]), on: serverStream, now: pair.now)
        pair.advance(by: .milliseconds(50))
        #expect(Self.messages(pair.serverEvents) == [.text(#"{"type":"session.update"}"#)])
        #expect(Self.messages(pair.clientEvents) == [.binary([1, 2, 3])])
    }

    @Test func withoutNegotiatedDataChannelsOpeningThrows() throws {
        let pair = try PeerPair()
        #expect(pair.run(until: { PeerConnectionTests.isConnected($0.clientEvents) }, limit: .seconds(5)))
        #expect(throws: SCTPAssociation.Error.notEstablished) { try pair.client.openDataChannel(label: "x", now: pair.now) }
    }

    /// Parley's client role against its server role over 10 % loss, 20 ms ± 30 ms of delay and
    /// reordering, in virtual time: the call connects, audio flows both ways (out of order
    /// sometimes, as sent over such a path), and a data channel opens and carries messages.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func aCallSurvivesTenPercentLossWithJitterAndReordering(seed: UInt64) throws {
        let path = LinkConditions(delay: .milliseconds(20), jitter: .milliseconds(30), loss: .random(0.10),
                                  reorderRate: 0.05, reorderDelay: .milliseconds(40))
        let pair = try PeerPair(path: path, seed: seed, dataChannels: true)
        #expect(pair.run(until: {
            $0.clientEvents.contains(.dataChannel(.connected)) && $0.serverEvents.contains(.dataChannel(.connected))
        }, limit: .seconds(20)))
        let stream = try pair.client.openDataChannel(label: "oai-events", now: pair.now)
        #expect(pair.run(until: { Self.opened($0.serverEvents) != nil && Self.opened($0.clientEvents) != nil }, limit: .seconds(20)))
        for frame in 0..<250 {
            pair.client.sendAudio([0xF8, UInt8(frame & 0x7F)], mediaTime: UInt32(frame) * 960, marker: frame == 0, now: pair.now)
            pair.server.sendAudio([0xF8, 0x80 | UInt8(frame & 0x7F)], mediaTime: UInt32(frame) * 960, marker: frame == 0, now: pair.now)
            pair.advance(by: .milliseconds(20))
        }
        try pair.client.sendDataChannelMessage(.text(#"{"type":"session.update"}"#), on: stream, now: pair.now)
        let serverStream = try #require(Self.opened(pair.serverEvents)).streamID
        try pair.server.sendDataChannelMessage(.binary([1, 2, 3]), on: serverStream, now: pair.now)
        #expect(pair.run(until: { !Self.messages($0.serverEvents).isEmpty && !Self.messages($0.clientEvents).isEmpty },
                         limit: .seconds(10)))
        #expect(Self.messages(pair.serverEvents) == [.text(#"{"type":"session.update"}"#)])
        #expect(Self.messages(pair.clientEvents) == [.binary([1, 2, 3])])
        pair.advance(by: .milliseconds(200))
        for events in [pair.serverEvents, pair.clientEvents] {
            let sequence = PeerConnectionTests.audio(events).map(\.sequenceNumber)
            #expect(sequence.count > 200 && sequence.count < 250, "received \(sequence.count) of 250")
            #expect(Set(sequence).count == sequence.count)
            #expect(zip(sequence, sequence.dropFirst()).contains { Int16(bitPattern: $1 &- $0) < 0 })
        }
        #expect(pair.datagramsLost > 0)
    }
}
