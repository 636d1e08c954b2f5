import ParleyEndpoint
import ParleyRelay
import ParleyRouting
import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

/// Whole calls through the relay's own forwarding core in front of the endpoint, on the
/// simulated network with injected time: a call end to end, the relay restarting under a live
/// call with and without its flow store, and a thousand calls at once.
@Suite struct RelayedCallTests {
    static let relayPublic = PeerAddress("198.51.100.20:3478")!
    /// Inside the endpoint's allowed relay network (198.18.0.0/15).
    static let relayInternal = PeerAddress("198.18.0.20:3480")!

    static func relay(in harness: EndpointHarness, usesFlowStore: Bool) -> RelayCoreHost {
        let relay = RelayCoreHost(public: relayPublic, internal: relayInternal, keyring: .development(),
                                  usesFlowStore: usesFlowStore, now: harness.now)
        harness.network.add(relay)
        return relay
    }

    static func client(_ index: Int) -> PeerAddress {
        PeerAddress(ip: .v4(0xCB00_7100 | UInt32(index % 250 + 1)), port: UInt16(20_000 + index))
    }

    @Test func aCallThroughTheRelayCoreHearsItsOwnTone() throws {
        let harness = try EndpointHarness(seed: 21)
        let relay = Self.relay(in: harness, usesFlowStore: false)
        let client = try harness.call(from: Self.client(0), via: Self.relayPublic, tone: 440)
        #expect(harness.run(until: { client.audioReceived >= 100 }, limit: .seconds(5)))

        #expect(harness.endpoint.drops.isEmpty)
        #expect(relay.flowCount == 1 && relay.statistics.flowsCreated(.token) == 1)
        #expect(relay.statistics.droppedTotal == 0)
        #expect(relay.statistics.forwarded(.clientToTransceiver) > 100 && relay.statistics.forwarded(.transceiverToClient) > 100)
        // Every datagram the endpoint sent went to the relay's internal address.
        #expect(Set(harness.endpoint.sent.map(\.destination)) == [Self.relayInternal])
        let heard = client.heard.suffix(48_000)
        #expect(tonePower(heard, frequency: 440) > 100 * tonePower(heard, frequency: 500))
    }

    /// SPED (draft-hancke-webrtc-sped) through the relay: the answer keeps the DTLS client
    /// role and echoes the `sped` option, the first response carries our ClientHello, the
    /// handshake rides the checks, and the call carries audio and `oai-events` as usual.
    @Test func aSPEDCallThroughTheRelayCoreEmbedsItsHandshake() throws {
        let harness = try EndpointHarness(seed: 23)
        let relay = Self.relay(in: harness, usesFlowStore: false)
        let client = try harness.call(from: Self.client(0), via: Self.relayPublic, tone: 440, events: true, sped: true)
        let answer = try SDPAnswer(parsing: client.answer.sdp)
        #expect(answer.setup == .active && answer.iceOptions == [SPEDICEOption.draft])
        #expect(harness.run(until: { client.audioReceived >= 50 && client.hasEventsChannel && !client.serverEvents.isEmpty },
                            limit: .seconds(5)))
        #expect(client.serverEvents.first?.event.type == "session.created")
        #expect(harness.endpoint.drops.isEmpty && relay.statistics.droppedTotal == 0)
        let id = client.answer.id
        let embedded = harness.endpoint.events.compactMap { if case .dtlsConnected(id, _, let embedded) = $0 { embedded } else { nil } }
        #expect(embedded == [true])
        #expect(client.connection.dtlsInSTUNState == .complete)
    }

    /// The relay restarts 2 s into a call, losing its flows. With the flow store, the caller's
    /// next media packet makes the relay look its flow up and the call carries on within a few
    /// packets; without it, media is dropped until the caller's next consent check (RFC 7675,
    /// every 5 s ± 20 %) carries the routing token again.
    @Test(arguments: [true, false])
    func aRelayRestartKeepsTheCall(usesFlowStore: Bool) throws {
        let harness = try EndpointHarness(seed: 22)
        let relay = Self.relay(in: harness, usesFlowStore: usesFlowStore)
        let client = try harness.call(from: Self.client(1), via: Self.relayPublic, tone: 440)
        #expect(harness.run(until: { client.audioReceived >= 50 }, limit: .seconds(3)))
        harness.advance(to: harness.now + .seconds(1))
        if usesFlowStore { #expect(relay.storedFlows[Self.client(1)] != nil) }

        let restartedAt = harness.now
        relay.restart(now: restartedAt)
        let heardBefore = client.audioReceived
        #expect(harness.run(until: { client.audioReceived > heardBefore }, limit: .seconds(8)))
        let gap = harness.now - restartedAt

        let statistics = relay.statistics
        #expect(statistics.dropped(.unknownFlow) > 0)
        if usesFlowStore {
            #expect(gap < .milliseconds(150), "\(gap)")
            #expect(statistics.flowsCreated(.store) == 1 && statistics.flowsCreated(.token) == 0)
        } else {
            #expect(gap > .milliseconds(150) && gap < ICEControllingAgent.consentInterval * 1.2 + .milliseconds(200), "\(gap)")
            #expect(statistics.flowsCreated(.token) == 1 && statistics.lookupsRequested == 0)
        }
        // The call itself never noticed: same session, nothing dropped at the endpoint.
        #expect(harness.endpoint.endpoint.callCount == 1 && harness.endpoint.endedCalls.isEmpty)
        #expect(harness.endpoint.drops.isEmpty)
    }

    /// A thousand callers set up at once through one relay worker, each from its own address:
    /// each ICE check authenticates only with its own call's password and each DTLS handshake
    /// verifies only against its own call's fingerprint, so every call connecting shows each
    /// datagram reached the right session, by ufrag first and then by (relay, client) address.
    @Test func aThousandCallsAreRoutedToTheirOwnSessions() throws {
        let harness = try EndpointHarness(seed: 23)
        let relay = Self.relay(in: harness, usesFlowStore: false)
        let clients = try (0..<1_000).map { try harness.call(from: Self.client($0), via: Self.relayPublic) }
        #expect(harness.run(until: { clients.allSatisfy(\.isConnected) }, limit: .seconds(10)))

        #expect(clients.filter(\.isConnected).count == 1_000)
        #expect(harness.endpoint.endpoint.callCount == 1_000)
        #expect(harness.endpoint.drops.isEmpty)
        #expect(relay.flowCount == 1_000 && relay.statistics.droppedTotal == 0)
        // Each client heard only from the relay's public address, and every client was answered.
        #expect(clients.allSatisfy { $0.events.contains(.iceConnected(Self.relayPublic)) })
    }
}
