import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

/// SNAP (draft-hancke-tsvwg-snap-00): with both INIT chunks exchanged in the SDP, each
/// association is ESTABLISHED once DTLS is, and the four-way handshake never runs.
@Suite struct SCTPAssociationSNAPTests {
    static let handshakeChunkTypes: Set<UInt8> = [
        SCTPChunk.ChunkType.initiation, SCTPChunk.ChunkType.initiationAck,
        SCTPChunk.ChunkType.cookieEcho, SCTPChunk.ChunkType.cookieAck,
    ]

    static func channelsOpened(_ events: [SCTPAssociation.Event]) -> Int {
        events.filter { if case .channelOpened = $0 { true } else { false } }.count
    }

    /// Records the chunk types of every packet in flight, both ways.
    final class ChunkLog {
        private(set) var types: [UInt8] = []

        init(watching pair: SCTPAssociationPair) {
            pair.rewrite = { [unowned self] bytes, _ in
                if let (_, chunks) = try? SCTPPacket.parseLeniently(bytes) {
                    types += chunks.compactMap { try? $0.get().type }
                }
                return bytes
            }
        }
    }

    @Test(arguments: [SCTPAssociationPair.SNAPOfferer.dtlsClient, .dtlsServer])
    func bothSidesAreEstablishedAtConnectWithoutAPacket(offerer: SCTPAssociationPair.SNAPOfferer) throws {
        let pair = SCTPAssociationPair(snap: offerer)
        let log = ChunkLog(watching: pair)
        pair.client.connect(now: pair.now)
        pair.server.connect(now: pair.now)
        #expect(pair.client.isEstablished && pair.server.isEstablished)
        // No timer runs: nothing was sent that waits for an answer.
        #expect(pair.client.nextDeadline() == nil && pair.server.nextDeadline() == nil)
        pair.advance(by: .seconds(1))
        #expect(pair.packetsSent == 0)
        #expect(pair.clientEvents == [.connected] && pair.serverEvents == [.connected])

        // Channel IDs still follow the DTLS role (RFC 8832 §6), whoever offered.
        let fromClient = try pair.client.openChannel(label: "oai-events", now: pair.now)
        let fromServer = try pair.server.openChannel(label: "server", now: pair.now)
        #expect(fromClient == 0 && fromServer == 1)
        #expect(pair.run(until: { Self.channelsOpened($0.clientEvents) == 2 && Self.channelsOpened($0.serverEvents) == 2 },
                         limit: .seconds(1)))
        try pair.client.send(.text("session.update"), on: fromClient, now: pair.now)
        try pair.server.send(.text("session.updated"), on: fromClient, now: pair.now)
        try pair.server.send(.binary([1, 2, 3]), on: fromServer, now: pair.now)
        let delivered = pair.run(until: { pair in
            pair.serverMessages(on: fromClient).count == 1 && pair.clientMessages(on: fromClient).count == 1
                && pair.clientMessages(on: fromServer).count == 1
        }, limit: .seconds(1))
        #expect(delivered)
        #expect(pair.serverMessages(on: fromClient) == [.text("session.update")])
        #expect(pair.clientMessages(on: fromClient) == [.text("session.updated")])
        #expect(pair.clientMessages(on: fromServer) == [.binary([1, 2, 3])])
        #expect(!log.types.isEmpty && Self.handshakeChunkTypes.isDisjoint(with: log.types))
    }

    /// The first round trip after DTLS carries the channel's OPEN and ACK: on a 10 ms path the
    /// channel is open 20 ms after both sides connect, where the crossed handshake first
    /// takes one and a half round trips more.
    @Test func theChannelOpensAtLeastARoundTripSoonerThanWithTheHandshake() throws {
        func openingTime(_ pair: SCTPAssociationPair) throws -> Duration {
            let start = pair.now
            #expect(pair.connect())
            _ = try pair.client.openChannel(label: "oai-events", now: pair.now)
            #expect(pair.run(until: { Self.channelsOpened($0.clientEvents) == 1 }, limit: .seconds(1)))
            return pair.now - start
        }
        let snap = try openingTime(SCTPAssociationPair(snap: .dtlsServer))
        let handshake = try openingTime(SCTPAssociationPair())
        #expect(snap == .milliseconds(20), "\(snap)")
        #expect(handshake == .milliseconds(50), "\(handshake)")
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func messagesFlowBothWaysOverALossyPath(seed: UInt64) throws {
        let pair = SCTPAssociationPair(lossRate: 0.2, seed: seed, snap: seed % 2 == 0 ? .dtlsClient : .dtlsServer)
        let log = ChunkLog(watching: pair)
        #expect(pair.connect())
        let stream = try pair.client.openChannel(label: "lossy-snap", now: pair.now)
        #expect(pair.run(until: { Self.channelsOpened($0.clientEvents) == 1 }, limit: .seconds(60)))
        let up = (0..<200).map { DataChannel.Message.text("up \($0)") }
        let down = (0..<200).map { DataChannel.Message.text("down \($0)") }
        for message in up { try pair.client.send(message, on: stream, now: pair.now) }
        for message in down { try pair.server.send(message, on: stream, now: pair.now) }
        #expect(pair.run(until: { $0.serverMessages(on: stream).count == 200 && $0.clientMessages(on: stream).count == 200 },
                         limit: .seconds(120)))
        #expect(pair.serverMessages(on: stream) == up && pair.clientMessages(on: stream) == down)
        #expect(pair.packetsLost > 10)
        #expect(Self.handshakeChunkTypes.isDisjoint(with: log.types))
    }

    /// An INIT after SNAP (a peer that restarts its side, or one that sends it anyway) gets
    /// the stateless INIT-ACK of §5.1 B; the association it finds goes on untouched.
    @Test func anINITArrivingAfterSNAPLeavesTheAssociationUnharmed() throws {
        let pair = SCTPAssociationPair(snap: .dtlsClient)
        #expect(pair.connect())
        let stream = try pair.client.openChannel(label: "steady", now: pair.now)
        #expect(pair.run(until: { Self.channelsOpened($0.clientEvents) == 1 }, limit: .seconds(1)))

        let stray = SCTPInitChunk(initiateTag: 0x0BAD_F00D, advertisedReceiverWindowCredit: 65_536, outboundStreams: 16,
                                  inboundStreams: 16, initialTSN: 99)
        let packet = SCTPPacket(header: SCTPCommonHeader(sourcePort: 5000, destinationPort: 5000, verificationTag: 0),
                                chunks: [.initiation(stray)]).serialized()
        let log = ChunkLog(watching: pair)
        #expect(pair.injectToServer(packet) == .accepted)
        try pair.client.send(.text("still here"), on: stream, now: pair.now)
        try pair.server.send(.text("so am I"), on: stream, now: pair.now)
        #expect(pair.run(until: { $0.serverMessages(on: stream).count == 1 && $0.clientMessages(on: stream).count == 1 },
                         limit: .seconds(1)))
        #expect(log.types.contains(SCTPChunk.ChunkType.initiationAck))
        #expect(pair.clientEvents.filter { $0 == .connected }.count == 1)
        #expect(pair.serverEvents.filter { $0 == .connected }.count == 1)
        #expect(pair.client.isEstablished && pair.server.isEstablished)
    }

    /// Not a valid negotiation, but not a dead one: an offerer that ignored the answer's
    /// `a=sctp-init` runs the handshake with the tag its offer announced, and the answerer,
    /// already ESTABLISHED, takes its COOKIE-ECHO as a lost COOKIE-ACK (§5.2.4 D).
    @Test func anOffererThatIgnoresTheAnswerStillGetsTheAssociation() throws {
        let pair = SCTPAssociationPair(snap: .dtlsClient, offererTakesAnswer: false)
        #expect(pair.connect())
        let stream = try pair.client.openChannel(label: "late", now: pair.now)
        #expect(pair.run(until: { Self.channelsOpened($0.clientEvents) == 1 }, limit: .seconds(5)))
        try pair.server.send(.text("hello"), on: stream, now: pair.now)
        #expect(pair.run(until: { $0.clientMessages(on: stream) == [.text("hello")] }, limit: .seconds(5)))
        #expect(pair.serverEvents.filter { $0 == .connected }.count == 1)
    }

    @Test func anOfferersAnnouncedTagAndTSNAreTheOnesItUses() {
        var configuration = SCTPAssociation.Configuration(isDTLSClient: false)
        var generator = SeededGenerator(seed: 77)
        let announced = configuration.makeInitiation(using: &generator)
        #expect(announced.initiateTag != 0)
        configuration.localInitiation = announced
        let association = SCTPAssociation(configuration: configuration, now: Instant(nanoseconds: 0), using: &generator)
        #expect(association.initiation == announced)
    }
}
