import ParleyEndpoint
import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

/// Pins how the endpoint classifies and routes datagrams, counts what it drops, keeps DELETE
/// idempotent and orders deadlines across calls; then whole calls, Parley's client role
/// against the endpoint with the echo backend, on the simulated network with injected time.
@Suite struct TransceiverEndpointTests {
    static let alice = PeerAddress("203.0.113.5:40000")!
    static let bob = PeerAddress("203.0.113.6:40000")!
    static let stranger = PeerAddress("203.0.113.99:9")!

    static func bindingRequest(username: String) -> [UInt8] {
        STUNMessage(class: .request, transactionID: STUNTransactionID.random(), attributes: [.username(username)])
            .encoded(integrityKey: Array("not-the-password".utf8), fingerprint: true)
    }

    @Test func checksAreRoutedByUfragThenEverythingByTheirValidatedPath() throws {
        let harness = try EndpointHarness()
        let first = try harness.call(from: Self.alice)
        let second = try harness.call(from: Self.bob)
        #expect(harness.endpoint.endpoint.callCount == 2)
        #expect(harness.run(until: { first.isConnected && second.isConnected }, limit: .seconds(2)))
        #expect(harness.endpoint.drops.isEmpty)
        #expect(Set(harness.endpoint.sent.map(\.destination)) == [Self.alice, Self.bob])
        // Each client's checks were answered from the endpoint's socket, and only there.
        #expect(first.events.contains(.iceConnected(EndpointHarness.endpointAddress)))
        #expect(second.events.contains(.iceConnected(EndpointHarness.endpointAddress)))
    }

    @Test func whatNoCallOwnsIsDroppedByReasonAndNeverAnswered() throws {
        let harness = try EndpointHarness()
        let client = try harness.call(from: Self.alice)
        #expect(harness.run(until: { client.isConnected }, limit: .seconds(2)))
        let sentBefore = harness.endpoint.sent.count

        harness.inject(Self.bindingRequest(username: "nosuchufrag:abcd"), from: Self.stranger)
        harness.inject([0x00, 0x01, 0x00], from: Self.stranger)
        harness.inject([23, 0xFE, 0xFD] + [UInt8](repeating: 0, count: 20), from: Self.stranger)
        // A known client's address through a source that is no allowed relay.
        harness.inject(RelayEncapsulation.encapsulate([23, 0xFE, 0xFD], client: Self.alice), from: Self.stranger)
        harness.inject([RelayEncapsulation.marker, 0x14, 0x00], from: EndpointHarness.relayA)
        // The right ufrag with the wrong MESSAGE-INTEGRITY: routed to the call, refused by ICE.
        let ufrag = try SDPAnswer(parsing: client.answer.sdp).iceUfrag
        harness.inject(Self.bindingRequest(username: "\(ufrag):abcd"), from: Self.stranger)

        #expect(harness.endpoint.drops == [
            "unknown_ufrag", "stun_malformed", "unknown_address", "relay_not_allowed", "encapsulation_malformed",
            "stun_rejected",
        ])
        #expect(harness.endpoint.sent.count == sentBefore)
    }

    /// A flood of made-up checks costs a scan and a table lookup each: a check for an unknown
    /// ufrag is dropped before its FINGERPRINT (a CRC over the message) or anything else is
    /// verified, so a wrong FINGERPRINT is not even noticed; for a live call's ufrag it is.
    @Test func checksFromStrangersAreDroppedByTheirUfragBeforeAnythingIsVerified() throws {
        let harness = try EndpointHarness()
        let client = try harness.call(from: Self.alice)
        #expect(harness.run(until: { client.isConnected }, limit: .seconds(2)))
        let ufrag = try SDPAnswer(parsing: client.answer.sdp).iceUfrag
        for username in ["nosuchufrag:abcd", "\(ufrag):abcd"] {
            var check = Self.bindingRequest(username: username)
            check[check.count - 1] ^= 0xFF
            harness.inject(check, from: Self.stranger)
        }
        #expect(harness.endpoint.drops == ["unknown_ufrag", "stun_malformed"])
    }

    @Test func relayedCallsAnswerThroughTheirRelayAndKeepTheirCallThroughANewOne() throws {
        let harness = try EndpointHarness()
        let client = try harness.call(from: Self.alice, relayed: true, tone: 440)
        #expect(harness.run(until: { client.audioReceived >= 10 }, limit: .seconds(3)))
        #expect(harness.endpoint.drops.isEmpty)
        // Every datagram went to the relay replica, with a header naming the client.
        #expect(harness.endpoint.sent.allSatisfy { $0.destination == EndpointHarness.relayA })
        #expect(harness.endpoint.sent.allSatisfy { RelayEncapsulation.parse($0.bytes)?.client == Self.alice })

        // Another replica takes over the public address: the client's packets keep their call
        // before its next ICE check, and the echo goes back the new way.
        harness.relay.current = EndpointHarness.relayB
        let heardBefore = client.audioReceived
        let sentBefore = harness.endpoint.sent.count
        #expect(harness.run(until: { client.audioReceived >= heardBefore + 10 }, limit: .seconds(1)))
        #expect(harness.endpoint.sent[sentBefore...].contains { $0.destination == EndpointHarness.relayB })
        #expect(harness.endpoint.drops.isEmpty)
    }

    /// Two relays in front of one client (a primary and a secondary in the answer, or the
    /// client's checks on both): replies take the path the client's latest accepted packet
    /// came on, so answers to checks go back the way they came and a client that moves back
    /// to a relay it used before is answered through it again.
    @Test func repliesFollowThePathTheClientUsedLast() throws {
        let harness = try EndpointHarness()
        let client = try harness.call(from: Self.alice, relayed: true, tone: 440)
        #expect(harness.run(until: { client.audioReceived >= 10 }, limit: .seconds(3)))
        for relay in [EndpointHarness.relayB, EndpointHarness.relayA, EndpointHarness.relayB] {
            harness.relay.current = relay
            let heardBefore = client.audioReceived
            #expect(harness.run(until: { client.audioReceived >= heardBefore + 5 }, limit: .seconds(1)))
            let sentBefore = harness.endpoint.sent.count
            #expect(harness.run(until: { client.audioReceived >= heardBefore + 15 }, limit: .seconds(1)))
            #expect(harness.endpoint.sent[sentBefore...].allSatisfy { $0.destination == relay })
        }
        #expect(harness.endpoint.drops.isEmpty)
    }

    @Test func deleteIsIdempotentForCallsThatEndedLately() throws {
        let harness = try EndpointHarness(recentlyEndedLimit: 2)
        let endpoint = harness.endpoint.endpoint
        let calls = try (0..<3).map { try harness.call(from: PeerAddress(ip: Self.alice.ip, port: 40_001 + UInt16($0))).answer.id }
        let unknown = SessionID(rawValue: "rtc_000000000000000000000000")!
        #expect(endpoint.endCall(calls[0], now: harness.now))
        #expect(endpoint.endCall(calls[0], now: harness.now))
        #expect(!endpoint.endCall(unknown, now: harness.now))
        #expect(endpoint.endCall(calls[1], now: harness.now))
        #expect(endpoint.endCall(calls[2], now: harness.now))
        harness.network.settle()
        #expect(harness.endpoint.endedCalls.map(\.0) == calls)
        #expect(harness.endpoint.endedCalls.allSatisfy { $0.1 == "local_close" })
        #expect(endpoint.callCount == 0)
        // Only the last two ended ids are remembered.
        #expect(!endpoint.endCall(calls[0], now: harness.now))
        #expect(endpoint.endCall(calls[1], now: harness.now))
    }

    /// However a call ends (DELETE; the client's RTCP BYE and close_notify; consent running
    /// out after the client vanished), no table of the endpoint keeps anything of it: what a
    /// soak checks of a running transceiver through `parley_shard_table_entries`.
    @Test func everyTableEmptiesWhicheverWayCallsEnd() throws {
        let harness = try EndpointHarness()
        let endpoint = harness.endpoint.endpoint
        let vanishing = PeerAddress("203.0.113.7:40000")!
        let deleted = try harness.call(from: Self.alice, relayed: true, tone: 440)
        let closed = try harness.call(from: Self.bob, relayed: true, tone: 440)
        let vanished = try harness.call(from: vanishing, relayed: true, tone: 440)
        let clients = [deleted, closed, vanished]
        #expect(harness.run(until: { clients.allSatisfy { $0.audioReceived >= 10 } }, limit: .seconds(3)))
        #expect(endpoint.tableSizes.named.map(\.entries) == [3, 3, 3, 3, 3])

        #expect(endpoint.endCall(deleted.answer.id, now: harness.now))
        closed.connection.close(now: harness.now)
        harness.network.setConditions(LinkConditions(loss: .random(1)), from: vanishing, to: EndpointHarness.relayPublic)
        harness.advance(to: harness.now + .seconds(31))

        #expect(harness.endpoint.endedCalls.map(\.1) == ["local_close", "rtcp_bye", "consent_expired"])
        for (table, entries) in endpoint.tableSizes.named {
            #expect(entries == 0, "\(table)")
        }
        #expect(endpoint.nextDeadline() == nil)
    }

    @Test func deadlinesAreKeptInOrderAcrossCalls() throws {
        let harness = try EndpointHarness()
        let endpoint = harness.endpoint.endpoint
        let start = harness.now
        var ids: [SessionID] = []
        for offset in [0, 5, 10] {
            harness.advance(to: start + .seconds(offset))
            // Clients whose checks are all lost: each call waits for a check that never comes.
            let address = PeerAddress(ip: .v4(0xCB00_7100 + UInt32(offset)), port: 1)
            harness.network.setConditions(LinkConditions(loss: .random(1)), from: address, to: EndpointHarness.endpointAddress)
            ids.append(try harness.call(from: address).answer.id)
        }
        // A call nobody checks ends 30 s after its answer (ICE timeout); one ended earlier
        // leaves the schedule. The endpoint's one deadline is always the earliest call's.
        #expect(endpoint.nextDeadline().map { $0 - start } == .seconds(30))
        harness.advance(to: start + .seconds(20))
        #expect(endpoint.endCall(ids[1], now: harness.now))
        harness.advance(to: start + .seconds(30))
        #expect(harness.endpoint.endedCalls.map(\.0) == [ids[1], ids[0]])
        #expect(endpoint.nextDeadline().map { $0 - start } == .seconds(40))
        harness.advance(to: start + .seconds(40) - .milliseconds(1))
        #expect(harness.endpoint.endedCalls.count == 2)
        harness.advance(to: start + .seconds(40))
        #expect(harness.endpoint.endedCalls.map(\.0) == [ids[1], ids[0], ids[2]])
        #expect(harness.endpoint.endedCalls.map(\.1) == ["local_close", "ice_timeout", "ice_timeout"])
        #expect(endpoint.nextDeadline() == nil)
        #expect(endpoint.callCount == 0)
    }

    @Test func callsHearTheirOwnToneThroughTheEchoBackend() throws {
        let harness = try EndpointHarness()
        let client = try harness.call(from: Self.alice, tone: 440)
        let other = try harness.call(from: Self.bob, relayed: true, tone: 1_000)
        #expect(harness.run(until: { client.heard.count >= 48_000 && other.heard.count >= 48_000 }, limit: .seconds(5)))
        #expect(harness.endpoint.drops.isEmpty)
        for (caller, own, foreign) in [(client, 440.0, 1_000.0), (other, 1_000.0, 440.0)] {
            let lastHalfSecond = caller.heard.suffix(24_000)
            #expect(tonePower(lastHalfSecond, frequency: own) > 100 * tonePower(lastHalfSecond, frequency: foreign))
            #expect(tonePower(lastHalfSecond, frequency: own) > 1_000_000)
        }
        // The set-up stages were reported for each call, in order.
        for caller in [client, other] {
            let id = caller.answer.id
            let stages = harness.endpoint.events.compactMap { event -> String? in
                switch event {
                case .iceConnected(id, _): "ice"
                case .dtlsConnected(id, _, _): "dtls"
                case .firstAudio(id, _): "audio"
                default: nil
                }
            }
            #expect(stages == ["ice", "dtls", "audio"])
        }
    }

    @Test func aCallSurvivesLossJitterAndReordering() throws {
        let harness = try EndpointHarness(seed: 5, conditions: LinkConditions(
            delay: .milliseconds(20), jitter: .milliseconds(30), loss: .random(0.05)))
        let client = try harness.call(from: Self.alice, relayed: true, tone: 600)
        #expect(harness.run(until: { client.heard.count >= 96_000 }, limit: .seconds(8)))
        let lastSecond = client.heard.suffix(48_000)
        #expect(tonePower(lastSecond, frequency: 600) > 1_000_000)
    }

    /// One caller packet in twenty is held back 300 ms on the way in, longer than the jitter
    /// buffer's deepest 120 ms: by the time it comes the packet after it has filled its slot
    /// from FEC, so it is dropped and counted as late; the backend never hears a gap.
    @Test func callerAudioLaterThanTheDeepestBufferIsCountedLateAndItsSlotRebuilt() throws {
        let harness = try EndpointHarness(seed: 6)
        harness.network.setConditions(
            LinkConditions(delay: .milliseconds(10), reorderRate: 0.05, reorderDelay: .milliseconds(300)),
            from: Self.alice, to: EndpointHarness.relayPublic)
        let client = try harness.call(from: Self.alice, relayed: true, tone: 600)
        #expect(harness.run(until: { client.heard.count >= 48_000 * 4 }, limit: .seconds(8)))

        let late = harness.endpoint.drops.filter { $0 == "late" }.count
        let rebuilt = harness.endpoint.events.reduce(0) {
            if case .audioRepaired(.inBandFEC, let frames) = $1 { $0 + frames } else { $0 }
        }
        #expect(late >= 5, "\(late) late")
        #expect(rebuilt >= late, "\(rebuilt) rebuilt from FEC, \(late) late")
        #expect(Set(harness.endpoint.drops) == ["late"])
        let lastSecond = client.heard.suffix(48_000)
        #expect(tonePower(lastSecond, frequency: 600) > 1_000_000)
    }
}
