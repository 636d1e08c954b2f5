import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

/// SPED (draft-hancke-webrtc-sped) between Parley's client and server roles in virtual time:
/// the DTLS handshake rides the ICE checks and responses in either DTLS role (an ICE-lite
/// DTLS server has its keys a round trip sooner; Parley answers as the DTLS client, whose
/// ClientHello rides the first response), and either end falls back to plain DTLS records
/// when the other does not embed.
@Suite struct PeerConnectionSPEDTests {
    static let path = LinkConditions(delay: .milliseconds(25))

    /// The handshake message types (RFC 6347 §4.2.2) of a datagram's epoch-0 handshake records.
    static func handshakeTypes(_ datagram: [UInt8]) -> [UInt8] {
        var types: [UInt8] = []
        var offset = 0
        while datagram.count - offset >= 13 {
            let epoch = Int(datagram[offset + 3]) << 8 | Int(datagram[offset + 4])
            let length = Int(datagram[offset + 11]) << 8 | Int(datagram[offset + 12])
            if datagram[offset] == 22, epoch == 0, length > 0, offset + 13 < datagram.count { types.append(datagram[offset + 13]) }
            offset += 13 + length
        }
        return types
    }

    /// Every datagram the network carries, in order, with its STUN reading when it is one.
    final class Wire {
        var datagrams: [SimulatedDatagram] = []

        init(_ network: SimulatedNetwork) {
            network.drop = { [unowned self] datagram in
                datagrams.append(datagram)
                return false
            }
        }

        func stun(from source: PeerAddress) -> [STUNMessage] {
            datagrams.filter { $0.source == source }.compactMap { try? STUNMessage(parsing: $0.payload) }
        }

        func hasSPEDAttributes(from source: PeerAddress) -> Bool {
            stun(from: source).contains { $0.dtlsInSTUN != nil || $0.dtlsInSTUNAcknowledgement != nil }
        }
    }

    static func connectedAfter(_ pair: PeerPair, _ events: (PeerPair) -> [PeerConnection.Event]) -> Duration? {
        pair.run(until: { PeerConnectionTests.isConnected(events($0)) }, limit: .seconds(5)) ? pair.elapsed : nil
    }

    @Test func theClientHelloRidesTheFirstCheckAndTheServerFlightItsResponse() throws {
        let pair = try PeerPair(path: Self.path, serverEmbeds: true, clientEmbeds: true)
        let wire = Wire(pair.network)
        let server = try #require(Self.connectedAfter(pair) { $0.serverEvents })
        let client = try #require(Self.connectedAfter(pair) { $0.clientEvents })
        let firstCheck = try #require(wire.stun(from: PeerPair.clientAddress).first)
        #expect(firstCheck.messageClass == .request)
        #expect(Self.handshakeTypes(firstCheck.dtlsInSTUN ?? []) == [1], "ClientHello")
        let firstResponse = try #require(wire.stun(from: PeerPair.serverAddress).first)
        #expect(firstResponse.messageClass == .successResponse)
        // ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone in one datagram.
        #expect(Self.handshakeTypes(firstResponse.dtlsInSTUN ?? []) == [2, 11, 12, 13, 14])
        #expect(firstResponse.dtlsInSTUNAcknowledgement == [CRC32.isoHDLC.checksum(firstCheck.dtlsInSTUN ?? [])])
        // 50 ms round trips: the server has its keys 1.5 round trips after the first check
        // (2.5 with Parley's classic active role), the client after 2 (as classic).
        #expect(server >= .milliseconds(75) && server < .milliseconds(85), "server \(server)")
        #expect(client >= .milliseconds(100) && client < .milliseconds(110), "client \(client)")
        #expect(pair.server.dtlsInSTUNState != .off && pair.client.dtlsInSTUNState == .complete)
        // The client's media tells the server it has the whole handshake: SPED stops.
        pair.client.sendAudio([0xF8], mediaTime: 0, marker: true, now: pair.now)
        pair.advance(by: .milliseconds(40))
        #expect(pair.server.dtlsInSTUNState == .complete)
        #expect(PeerConnectionTests.audio(pair.serverEvents).count == 1)
    }

    /// The role Parley answers with: the server stays the DTLS client, and its ClientHello
    /// rides the response to the first check instead of following it on its own.
    @Test func asTheDTLSClientTheServerSendsItsClientHelloInTheFirstResponse() throws {
        let pair = try PeerPair(path: Self.path, serverEmbeds: true, clientEmbeds: true, serverIsDTLSClient: true)
        let wire = Wire(pair.network)
        let client = try #require(Self.connectedAfter(pair) { $0.clientEvents })
        let server = try #require(Self.connectedAfter(pair) { $0.serverEvents })
        let firstCheck = try #require(wire.stun(from: PeerPair.clientAddress).first)
        #expect(firstCheck.dtlsInSTUN == [], "the DTLS server has nothing to embed, and says it speaks SPED")
        let firstResponse = try #require(wire.stun(from: PeerPair.serverAddress).first)
        #expect(Self.handshakeTypes(firstResponse.dtlsInSTUN ?? []) == [1], "ClientHello")
        // DTLS started with that check, not before: the ClientHello was made once.
        let direct = wire.datagrams.filter { $0.source == PeerPair.serverAddress && (try? STUNMessage(parsing: $0.payload)) == nil }
        #expect(direct.filter { Self.handshakeTypes($0.payload) == [1] }.map(\.payload) == [firstResponse.dtlsInSTUN ?? []])
        // As classic: the client has its keys 2 round trips after its first check, the server 2.5.
        #expect(client >= .milliseconds(100) && client < .milliseconds(110), "client \(client)")
        #expect(server >= .milliseconds(125) && server < .milliseconds(135), "server \(server)")
        #expect(pair.server.dtlsInSTUNState == .complete)
    }

    /// A check from an address other than the selected one (another candidate pair, or a
    /// source spoofed by someone with the call's password) is answered with acknowledgements
    /// and an empty datagram: our ClientHello rides responses to the selected address only, so
    /// no response is much larger than its check.
    @Test func onlyTheSelectedAddressGetsOurDatagramsInResponses() throws {
        let pair = try PeerPair(path: Self.path, serverEmbeds: true, clientEmbeds: true, serverIsDTLSClient: true)
        let server = try PeerConnection(configuration: pair.server.configuration, now: pair.now)
        guard case .liteResponder(let clientUfrag?) = server.configuration.ice else { throw SPEDTestError.noRemoteUfrag }
        let local = server.configuration.localICE
        var random = SeededGenerator(seed: 3)
        func check() -> [UInt8] {
            STUNMessage(class: .request, transactionID: .random(using: &random), attributes: [
                .username("\(local.ufrag):\(clientUfrag)"), .priority(1), .iceControlling(7),
                .dtlsInSTUNAcknowledgement([]), .dtlsInSTUN([]),
            ]).encoded(integrityKey: Array(local.password.utf8), fingerprint: true)
        }
        func responses(to bytes: [UInt8], from source: PeerAddress) -> [STUNMessage] {
            #expect(server.handle(bytes, from: source, now: pair.now) == .accepted)
            var messages: [STUNMessage] = []
            while let transmit = server.pollTransmit() {
                if transmit.destination == source, let message = try? STUNMessage(parsing: transmit.payload) { messages.append(message) }
            }
            return messages
        }
        let selected = try #require(responses(to: check(), from: PeerPair.clientAddress).first)
        #expect(Self.handshakeTypes(selected.dtlsInSTUN ?? []) == [1], "ClientHello to the selected address")
        let elsewhere = check()
        let reflected = try #require(responses(to: elsewhere, from: PeerAddress("203.0.113.50:4000")!).first)
        #expect(reflected.dtlsInSTUN == [] && reflected.dtlsInSTUNAcknowledgement == [])
        #expect(reflected.encoded(integrityKey: Array(local.password.utf8), fingerprint: true).count <= elsewhere.count)
    }

    enum SPEDTestError: Error { case noRemoteUfrag }

    @Test func withoutSPEDTheServerHasItsKeysARoundTripLater() throws {
        let pair = try PeerPair(path: Self.path)
        let client = try #require(Self.connectedAfter(pair) { $0.clientEvents })
        let server = try #require(Self.connectedAfter(pair) { $0.serverEvents })
        #expect(server >= .milliseconds(125) && server < .milliseconds(135), "server \(server)")
        #expect(client >= .milliseconds(100) && client < .milliseconds(110), "client \(client)")
        #expect(pair.server.dtlsInSTUNState == nil)
    }

    @Test func aLostFirstCheckIsRepairedByTheNextCheck() throws {
        let pair = try PeerPair(path: Self.path, serverEmbeds: true, clientEmbeds: true)
        var dropped = 0
        pair.network.drop = { datagram in
            guard datagram.source == PeerPair.clientAddress, dropped == 0 else { return false }
            dropped += 1
            return true
        }
        let client = try #require(Self.connectedAfter(pair) { $0.clientEvents })
        #expect(dropped == 1)
        // The check goes again after its 50 ms RTO, carrying the same ClientHello.
        #expect(client < .milliseconds(170), "client \(client)")
        #expect(pair.server.dtlsInSTUNState != .off)
    }

    @Test func aServerWithSPEDFallsBackForAClientThatDoesNotEmbed() throws {
        let pair = try PeerPair(path: Self.path, serverEmbeds: true, clientEmbeds: false)
        let wire = Wire(pair.network)
        #expect(Self.connectedAfter(pair) { $0.clientEvents } != nil)
        #expect(Self.connectedAfter(pair) { $0.serverEvents } != nil)
        #expect(pair.server.dtlsInSTUNState == .off)
        #expect(!wire.hasSPEDAttributes(from: PeerPair.serverAddress))
        #expect(!wire.hasSPEDAttributes(from: PeerPair.clientAddress))
    }

    @Test func aClientWithSPEDSendsItsClientHelloAtOnceToAServerThatIgnoresIt() throws {
        let pair = try PeerPair(path: Self.path, serverEmbeds: false, clientEmbeds: true, serverIsDTLSClient: false)
        let client = try #require(Self.connectedAfter(pair) { $0.clientEvents })
        #expect(pair.client.dtlsInSTUNState == .off)
        // Check and response (1 round trip), then the ClientHello on its own at once rather
        // than after the DTLS retransmission timer: 3 round trips in all.
        #expect(client >= .milliseconds(150) && client < .milliseconds(160), "client \(client)")
    }

    /// The lossy call of `PeerConnectionDataChannelTests`, with SPED at both ends.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func aSPEDCallSurvivesTenPercentLossWithJitterAndReordering(seed: UInt64) throws {
        let path = LinkConditions(delay: .milliseconds(20), jitter: .milliseconds(30), loss: .random(0.10),
                                  reorderRate: 0.05, reorderDelay: .milliseconds(40))
        let pair = try PeerPair(path: path, seed: seed, dataChannels: true, serverEmbeds: true, clientEmbeds: true)
        #expect(pair.run(until: {
            $0.clientEvents.contains(.dataChannel(.connected)) && $0.serverEvents.contains(.dataChannel(.connected))
        }, limit: .seconds(20)))
        let stream = try pair.client.openDataChannel(label: "oai-events", now: pair.now)
        #expect(pair.run(until: { PeerConnectionDataChannelTests.opened($0.serverEvents) != nil }, limit: .seconds(20)))
        try pair.client.sendDataChannelMessage(.text(#"{"type":"session.update"}"#), on: stream, now: pair.now)
        for frame in 0..<100 {
            pair.client.sendAudio([0xF8, UInt8(frame)], mediaTime: UInt32(frame) * 960, marker: frame == 0, now: pair.now)
            pair.advance(by: .milliseconds(20))
        }
        pair.advance(by: .milliseconds(200))
        #expect(PeerConnectionDataChannelTests.messages(pair.serverEvents) == [.text(#"{"type":"session.update"}"#)])
        let received = PeerConnectionTests.audio(pair.serverEvents).count
        #expect(received > 75 && received <= 100, "received \(received) of 100")
        #expect(pair.server.dtlsInSTUNState == .complete && pair.client.dtlsInSTUNState == .complete)
    }
}
