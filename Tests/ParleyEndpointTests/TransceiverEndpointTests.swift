import ParleyEndpoint
import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

/// Pins how the endpoint classifies and routes datagrams, counts what it drops, keeps DELETE
/// idempotent and orders deadlines across calls; then a whole call, Parley's client role
/// against the endpoint with the echo backend, in memory with injected time.
@Suite struct TransceiverEndpointTests {
    static let alice = PeerAddress("203.0.113.5:40000")!
    static let bob = PeerAddress("203.0.113.6:40000")!
    static let relayA = PeerAddress("198.18.0.1:3480")!
    static let relayB = PeerAddress("198.18.0.2:3480")!
    static let stranger = PeerAddress("203.0.113.99:9")!

    static func bindingRequest(username: String) -> [UInt8] {
        STUNMessage(class: .request, transactionID: STUNTransactionID.random(), attributes: [.username(username)])
            .encoded(integrityKey: Array("not-the-password".utf8), fingerprint: true)
    }

    @Test func checksAreRoutedByUfragThenEverythingByTheirValidatedPath() throws {
        let harness = try EndpointHarness()
        let first = try harness.call(from: Self.alice)
        let second = try harness.call(from: Self.bob)
        #expect(harness.endpoint.callCount == 2)
        #expect(harness.run(until: { _ in first.isConnected && second.isConnected }, limit: .seconds(2)))
        #expect(harness.drops.isEmpty)
        #expect(Set(harness.sent.map(\.destination)) == [Self.alice, Self.bob])
        // Each answer came back to the client whose check it answered: no cross-talk.
        #expect(first.events.contains(.iceConnected(EndpointHarness.endpointAddress)))
        #expect(second.events.contains(.iceConnected(EndpointHarness.endpointAddress)))
    }

    @Test func whatNoCallOwnsIsDroppedByReasonAndNeverAnswered() throws {
        let harness = try EndpointHarness()
        let client = try harness.call(from: Self.alice)
        #expect(harness.run(until: { _ in client.isConnected }, limit: .seconds(2)))
        let sentBefore = harness.sent.count

        harness.inject(Self.bindingRequest(username: "nosuchufrag:abcd"), from: Self.stranger)
        harness.inject([0x00, 0x01, 0x00], from: Self.stranger)
        harness.inject([23, 0xFE, 0xFD] + [UInt8](repeating: 0, count: 20), from: Self.stranger)
        // A known client's address through a source that is no allowed relay.
        harness.inject(RelayEncapsulation.encapsulate([23, 0xFE, 0xFD], client: Self.alice), from: Self.stranger)
        harness.inject([RelayEncapsulation.marker, 0x14, 0x00], from: Self.relayA)
        // The right ufrag with the wrong MESSAGE-INTEGRITY: routed to the call, refused by ICE.
        let ufrag = try SDPAnswer(parsing: client.answer.sdp).iceUfrag
        harness.inject(Self.bindingRequest(username: "\(ufrag):abcd"), from: Self.stranger)

        #expect(harness.drops == [
            "unknown_ufrag", "stun_malformed", "unknown_address", "relay_not_allowed", "encapsulation_malformed",
            "stun_rejected",
        ])
        #expect(harness.sent.count == sentBefore)
    }

    @Test func relayedCallsAnswerThroughTheirRelayAndKeepTheirCallThroughANewOne() throws {
        let harness = try EndpointHarness()
        let client = try harness.call(from: Self.alice, via: Self.relayA, tone: 440)
        #expect(harness.run(until: { _ in client.audioReceived >= 10 }, limit: .seconds(3)))
        #expect(harness.drops.isEmpty)
        // Every datagram went to the relay, with a header naming the client.
        #expect(harness.sent.allSatisfy { $0.destination == Self.relayA })
        #expect(harness.sent.allSatisfy { RelayEncapsulation.parse($0.bytes)?.client == Self.alice })

        // The relay restarts on another address: the client's packets keep their call before
        // its next ICE check, and the echo follows the new path.
        client.relay = Self.relayB
        let heardBefore = client.audioReceived
        let sentBefore = harness.sent.count
        #expect(harness.run(until: { _ in client.audioReceived >= heardBefore + 10 }, limit: .seconds(1)))
        let after = harness.sent[sentBefore...]
        #expect(after.contains { $0.destination == Self.relayB })
        #expect(harness.drops.isEmpty)
    }

    @Test func deleteIsIdempotentForCallsThatEndedLately() throws {
        let harness = try EndpointHarness(recentlyEndedLimit: 2)
        let calls = try (0..<3).map { _ in try harness.call(from: Self.alice).answer.id }
        let unknown = SessionID(rawValue: "rtc_000000000000000000000000")!
        #expect(harness.endpoint.endCall(calls[0], now: harness.now))
        #expect(harness.endpoint.endCall(calls[0], now: harness.now))
        #expect(!harness.endpoint.endCall(unknown, now: harness.now))
        #expect(harness.endpoint.endCall(calls[1], now: harness.now))
        #expect(harness.endpoint.endCall(calls[2], now: harness.now))
        harness.advanceClock(to: harness.now)
        #expect(harness.endedCalls.map(\.0) == calls)
        #expect(harness.endedCalls.allSatisfy { $0.1 == "local_close" })
        #expect(harness.endpoint.callCount == 0)
        // Only the last two ended ids are remembered.
        #expect(!harness.endpoint.endCall(calls[0], now: harness.now))
        #expect(harness.endpoint.endCall(calls[1], now: harness.now))
    }

    @Test func deadlinesAreKeptInOrderAcrossCalls() throws {
        let harness = try EndpointHarness()
        let start = harness.now
        var ids: [SessionID] = []
        for offset in [0, 5, 10] {
            harness.advanceClock(to: start + .seconds(offset))
            ids.append(try harness.call(from: Self.alice).answer.id)
        }
        // A call nobody checks ends 30 s after its answer (ICE timeout); one ended earlier
        // leaves the schedule. The endpoint's one deadline is always the earliest call's.
        #expect(harness.endpoint.nextDeadline().map { $0 - start } == .seconds(30))
        harness.advanceClock(to: start + .seconds(20))
        #expect(harness.endpoint.endCall(ids[1], now: harness.now))
        harness.advanceClock(to: start + .seconds(30))
        #expect(harness.endedCalls.map(\.0) == [ids[1], ids[0]])
        #expect(harness.endpoint.nextDeadline().map { $0 - start } == .seconds(40))
        harness.advanceClock(to: start + .seconds(40) - .milliseconds(1))
        #expect(harness.endedCalls.count == 2)
        harness.advanceClock(to: start + .seconds(40))
        #expect(harness.endedCalls.map(\.0) == [ids[1], ids[0], ids[2]])
        #expect(harness.endedCalls.map(\.1) == ["local_close", "ice_timeout", "ice_timeout"])
        #expect(harness.endpoint.nextDeadline() == nil)
        #expect(harness.endpoint.callCount == 0)
    }

    @Test func aCallHearsItsOwnToneThroughTheEchoBackend() throws {
        let harness = try EndpointHarness()
        let client = try harness.call(from: Self.alice, tone: 440)
        let other = try harness.call(from: Self.bob, tone: 1_000)
        #expect(harness.run(until: { _ in client.heard.count >= 48_000 && other.heard.count >= 48_000 }, limit: .seconds(5)))
        #expect(harness.drops.isEmpty)
        for (caller, own, foreign) in [(client, 440.0, 1_000.0), (other, 1_000.0, 440.0)] {
            let lastHalfSecond = caller.heard.suffix(24_000)
            #expect(tonePower(lastHalfSecond, frequency: own) > 100 * tonePower(lastHalfSecond, frequency: foreign))
            #expect(tonePower(lastHalfSecond, frequency: own) > 1_000_000)
        }
        #expect(harness.events.contains { if case .firstAudio(client.answer.id, _) = $0 { true } else { false } })
        // The set-up stages were reported for the call, in order.
        let stages = harness.events.compactMap { event -> String? in
            switch event {
            case .iceConnected(client.answer.id, _): "ice"
            case .dtlsConnected(client.answer.id, _): "dtls"
            case .firstAudio(client.answer.id, _): "audio"
            default: nil
            }
        }
        #expect(stages == ["ice", "dtls", "audio"])
    }
}
