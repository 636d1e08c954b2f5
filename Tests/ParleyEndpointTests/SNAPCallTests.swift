import ParleyAgent
import ParleyEndpoint
import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

/// SNAP (draft-hancke-tsvwg-snap-00) end to end: Parley's client offers its SCTP INIT in
/// `a=sctp-init`, the endpoint answers with its own, and `oai-events` opens with no SCTP
/// handshake after DTLS; an offer without the attribute still gets the handshake.
@Suite struct SNAPCallTests {
    static let caller = PeerAddress("203.0.113.9:41000")!
    /// 25 ms each way: a 50 ms round trip, long enough to count round trips by the clock.
    static let path = LinkConditions(delay: .milliseconds(25))

    static func isDTLSConnected(_ event: PeerConnection.Event) -> Bool {
        if case .dtlsConnected = event { true } else { false }
    }

    static func isEventsChannelOpened(_ event: PeerConnection.Event) -> Bool {
        if case .dataChannel(.channelOpened(let info)) = event { info.label == "oai-events" } else { false }
    }

    /// Connects `client` until `oai-events` carried `session.created`, then has it carry a
    /// `session.update` and return `session.updated`.
    static func exchangeSessionEvents(_ harness: EndpointHarness, _ client: ClientHost, limit: Duration) throws {
        #expect(harness.run(until: { client.hasEventsChannel && !client.events(ofType: "session.created").isEmpty },
                            limit: limit))
        try client.send(RealtimeEvent(type: "session.update", fields: ["session": ["instructions": "Be brief."]]),
                        now: harness.now)
        #expect(harness.run(until: { !client.events(ofType: "session.updated").isEmpty }, limit: limit))
        #expect(client.events(ofType: "session.updated").first?.event["session"]?["instructions"] == "Be brief.")
    }

    @Test func snapOpensOaiEventsOneRoundTripAfterDTLS() throws {
        let harness = try EndpointHarness(seed: 5, conditions: Self.path)
        let client = try harness.call(from: Self.caller, events: true, snap: true)
        #expect(client.answer.sctpSetup == .snap)
        #expect(try SDPAnswer(parsing: client.answer.sdp).application?.sctpInitiation != nil)
        try Self.exchangeSessionEvents(harness, client, limit: .seconds(3))

        // The association is up the moment DTLS is, and the channel's OPEN and ACK are the
        // first round trip after it: no INIT, INIT-ACK, COOKIE-ECHO or COOKIE-ACK went by.
        let dtls = try #require(client.instant(ofFirst: Self.isDTLSConnected))
        #expect(client.instant(ofFirst: { $0 == .dataChannel(.connected) }) == dtls)
        let opened = try #require(client.instant(ofFirst: Self.isEventsChannelOpened))
        #expect(opened - dtls == .milliseconds(50), "\(opened - dtls)")
        #expect(!harness.endpoint.drops.contains { $0.hasPrefix("sctp_") })
    }

    @Test func anOfferWithoutSCTPInitGetsTheHandshake() throws {
        let harness = try EndpointHarness(seed: 5, conditions: Self.path)
        let client = try harness.call(from: Self.caller, events: true)
        #expect(client.answer.sctpSetup == .handshake)
        #expect(!client.answer.sdp.contains("a=sctp-init"))
        try Self.exchangeSessionEvents(harness, client, limit: .seconds(3))

        // INIT and INIT-ACK, then COOKIE-ECHO and COOKIE-ACK: two round trips before the
        // channel's own, three in all where SNAP takes one.
        let dtls = try #require(client.instant(ofFirst: Self.isDTLSConnected))
        let connected = try #require(client.instant(ofFirst: { $0 == .dataChannel(.connected) }))
        let opened = try #require(client.instant(ofFirst: Self.isEventsChannelOpened))
        #expect(connected - dtls == .milliseconds(100), "\(connected - dtls)")
        #expect(opened - dtls == .milliseconds(150), "\(opened - dtls)")
    }

    @Test func withoutDataChannelsNeitherSideWritesSCTPInit() throws {
        let harness = try EndpointHarness(seed: 5)
        let client = try harness.call(from: Self.caller, snap: true)
        #expect(client.answer.sctpSetup == nil)
        #expect(!client.answer.sdp.contains("a=sctp-init"))
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func snapOpensOaiEventsOverALossyPath(seed: UInt64) throws {
        let harness = try EndpointHarness(seed: seed, conditions: LinkConditions(delay: .milliseconds(25), loss: .random(0.1)))
        let client = try harness.call(from: Self.caller, events: true, snap: true)
        try Self.exchangeSessionEvents(harness, client, limit: .seconds(20))
        #expect(client.events.filter { $0 == .dataChannel(.connected) }.count == 1)
    }
}
