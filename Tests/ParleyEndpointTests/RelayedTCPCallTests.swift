import ParleyEndpoint
import ParleyRelay
import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

/// Whole calls over ICE-TCP (RFC 6544): the relay's own TCP core in front of the endpoint on
/// the simulated network. The endpoint treats the TCP path like any other (ICE, consent,
/// DTLS, SRTP, SCTP unchanged) and marks its replies so the relay writes them on the
/// client's connection.
@Suite struct RelayedTCPCallTests {
    static let relayPublicTCP = PeerAddress("198.51.100.20:443")!
    /// Inside the endpoint's allowed relay network (198.18.0.0/15).
    static let relayInternal = PeerAddress("198.18.0.21:40001")!
    static let caller = PeerAddress("203.0.113.9:52000")!

    @Test func aCallOverTCPHearsItsToneAndOpensTheEventsChannel() throws {
        let harness = try EndpointHarness(seed: 41)
        let relay = RelayTCPCoreHost(public: Self.relayPublicTCP, internal: Self.relayInternal, keyring: .development(),
                                     now: harness.now)
        harness.network.add(relay)
        let client = try harness.call(from: Self.caller, via: Self.relayPublicTCP, tone: 440, events: true)
        #expect(harness.run(until: { client.audioReceived >= 100 && !client.serverEvents.isEmpty }, limit: .seconds(5)))

        #expect(harness.endpoint.drops.isEmpty)
        #expect(client.events.contains(.iceConnected(Self.relayPublicTCP)))
        #expect(client.serverEvents.first?.event.type == "session.created")
        let heard = client.heard.suffix(48_000)
        #expect(tonePower(heard, frequency: 440) > 100 * tonePower(heard, frequency: 500))
        // Every datagram the endpoint sent went to the relay's TCP worker, marked TCP.
        #expect(harness.endpoint.sent.allSatisfy {
            $0.destination == Self.relayInternal && RelayEncapsulation.parse($0.bytes)?.transport == .tcp
        })
        let statistics = relay.statistics
        #expect(statistics.admitted == 1 && statistics.connections == 1)
        #expect(statistics.forwarded(.clientToTransceiver) > 100 && statistics.forwarded(.transceiverToClient) > 100)
        #expect(RelayTCPCloseReason.allCases.allSatisfy { statistics.closed($0) == 0 })
    }
}
