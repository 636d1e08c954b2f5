import ParleyWebRTC
import ParleyWire
import Testing

@Suite struct DTLSInSTUNTests {
    /// A handshake record header (content type 22) followed by `marker`, so datagrams differ.
    static func datagram(_ marker: UInt8) -> [UInt8] {
        [22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, marker]
    }

    static func message(_ attributes: [STUNAttribute]) -> STUNMessage {
        STUNMessage(class: .request, method: .binding, transactionID: STUNTransactionID(bytes: Array(repeating: 7, count: 12))!,
                    attributes: attributes)
    }

    static func crc(_ bytes: [UInt8]) -> UInt32 { CRC32.isoHDLC.checksum(bytes) }

    @Test func attributesRoundTripAndAMalformedAcknowledgementIsKeptAsUnknown() throws {
        let sent = Self.message([.dtlsInSTUNAcknowledgement([1, 0xDEAD_BEEF]), .dtlsInSTUN(Self.datagram(1)), .dtlsInSTUN([])])
        let parsed = try STUNMessage(parsing: sent.encoded(integrityKey: Array("password".utf8), fingerprint: true))
        #expect(parsed.dtlsInSTUNAcknowledgement == [1, 0xDEAD_BEEF])
        #expect(parsed.dtlsInSTUN == Self.datagram(1))
        // Five CRCs, or a length that is not a multiple of four: discarded, the message stands.
        for value in [[UInt8](repeating: 1, count: 20), [1, 2, 3]] {
            let odd = Self.message([.unknown(type: 0xC071, value: value)])
            let reparsed = try STUNMessage(parsing: odd.encoded(integrityKey: nil, fingerprint: true))
            #expect(reparsed.dtlsInSTUNAcknowledgement == nil)
            #expect(reparsed.attributes.contains(.unknown(type: 0xC071, value: value)))
        }
    }

    @Test func aPeerThatSendsNeitherAttributeTurnsItOff() {
        var sped = DTLSInSTUN()
        sped.embed(flight: [Self.datagram(1)])
        #expect(sped.attributesToSend().count == 2)
        #expect(sped.receive(Self.message([.priority(1)])) == nil)
        #expect(sped.state == .off)
        #expect(sped.attributesToSend().isEmpty)
        // Once off, later attributes change nothing.
        #expect(sped.receive(Self.message([.dtlsInSTUN(Self.datagram(2))])) == nil)
        #expect(sped.state == .off)
    }

    @Test func newDatagramsGoToDTLSOnceAndAreAcknowledgedFourAtMost() {
        var sped = DTLSInSTUN()
        #expect(sped.receive(Self.message([.dtlsInSTUNAcknowledgement([]), .dtlsInSTUN(Self.datagram(1))])) == Self.datagram(1))
        #expect(sped.state == .confirmed)
        // The same datagram again (the peer resends until acknowledged) is not handed to DTLS twice.
        #expect(sped.receive(Self.message([.dtlsInSTUN(Self.datagram(1))])) == nil)
        // Empty, or not DTLS by its first byte (RFC 9443 §3): discarded.
        #expect(sped.receive(Self.message([.dtlsInSTUN([])])) == nil)
        #expect(sped.receive(Self.message([.dtlsInSTUN([0x80, 1, 2])])) == nil)
        for marker in 2...5 as ClosedRange<UInt8> {
            #expect(sped.receive(Self.message([.dtlsInSTUN(Self.datagram(marker))])) == Self.datagram(marker))
        }
        #expect(sped.attributesToSend().first == .dtlsInSTUNAcknowledgement((2...5).map { Self.crc(Self.datagram($0)) }))
    }

    @Test func pendingDatagramsGoOutInTurnUntilAcknowledged() {
        var sped = DTLSInSTUN()
        let flight = [Self.datagram(1), Self.datagram(2)]
        sped.embed(flight: flight)
        #expect(sped.attributesToSend() == [.dtlsInSTUNAcknowledgement([]), .dtlsInSTUN(flight[0])])
        #expect(sped.attributesToSend() == [.dtlsInSTUNAcknowledgement([]), .dtlsInSTUN(flight[1])])
        #expect(sped.attributesToSend() == [.dtlsInSTUNAcknowledgement([]), .dtlsInSTUN(flight[0])])
        _ = sped.receive(Self.message([.dtlsInSTUNAcknowledgement([Self.crc(flight[0])])]))
        #expect(sped.attributesToSend().last == .dtlsInSTUN(flight[1]))
        #expect(sped.attributesToSend().last == .dtlsInSTUN(flight[1]))
        _ = sped.receive(Self.message([.dtlsInSTUNAcknowledgement([Self.crc(flight[1])])]))
        // Nothing pending: an empty META-DTLS-IN-STUN still says we speak SPED.
        #expect(sped.attributesToSend().last == .dtlsInSTUN([]))
        // A new flight replaces whatever was pending.
        sped.embed(flight: [Self.datagram(3)])
        #expect(sped.attributesToSend().last == .dtlsInSTUN(Self.datagram(3)))
    }

    @Test func aServerKeepsItsFinishedPendingUntilTheClientAcknowledgesIt() {
        var sped = DTLSInSTUN()
        _ = sped.receive(Self.message([.dtlsInSTUN(Self.datagram(1))]))
        let finished = Self.datagram(9)
        sped.embed(flight: [finished])
        sped.handshakeCompleted(isDTLSClient: false)
        #expect(sped.state == .finishing)
        #expect(sped.attributesToSend().last == .dtlsInSTUN(finished))
        _ = sped.receive(Self.message([.dtlsInSTUNAcknowledgement([Self.crc(finished)])]))
        #expect(sped.state == .complete)
        #expect(sped.attributesToSend().isEmpty)
    }

    @Test func aServerAlsoCompletesWhenThePeerSendsMedia() {
        var sped = DTLSInSTUN()
        _ = sped.receive(Self.message([.dtlsInSTUN(Self.datagram(1))]))
        sped.embed(flight: [Self.datagram(9)])
        sped.handshakeCompleted(isDTLSClient: false)
        sped.peerConnected()
        #expect(sped.state == .complete)
    }

    @Test func aClientIsCompleteAtOnceItsLastFlightNeedsNoAcknowledgement() {
        var sped = DTLSInSTUN()
        _ = sped.receive(Self.message([.dtlsInSTUN(Self.datagram(1))]))
        sped.embed(flight: [Self.datagram(5)])
        sped.handshakeCompleted(isDTLSClient: true)
        #expect(sped.state == .complete)
        #expect(sped.attributesToSend().isEmpty)
        #expect(sped.receive(Self.message([.dtlsInSTUN(Self.datagram(2))])) == nil)
    }

    @Test func chromiumOfferAsksForSPEDAndTheAnswerListsTheSameOptions() {
        #expect(SPEDICEOption.accepted(from: ["trickle", "sped", "googspedv1"]) == ["sped", "googspedv1"])
        #expect(SPEDICEOption.accepted(from: ["goog-sped-v1", "trickle"]) == ["goog-sped-v1"])
        #expect(SPEDICEOption.accepted(from: ["trickle"]).isEmpty)
    }
}
