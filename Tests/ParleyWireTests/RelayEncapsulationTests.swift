import ParleyTestSupport
import ParleyWire
import Testing

private let payload: [UInt8] = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42]

@Test(arguments: [(PeerAddress("192.0.2.7:54321")!, 8), (PeerAddress("[2001:db8::7]:443")!, 20)])
func encapsulationRoundTrips(client: PeerAddress, headerLength: Int) throws {
    #expect(RelayEncapsulation.headerLength(for: client) == headerLength)
    let datagram = RelayEncapsulation.encapsulate(payload, client: client)
    #expect(datagram.count == headerLength + payload.count)
    #expect(datagram[0] == RelayEncapsulation.marker)
    #expect(PacketKind(datagram) == .relayed)
    let parsed = try #require(RelayEncapsulation.parse(datagram))
    #expect(parsed.client == client)
    #expect(Array(parsed.payload) == payload)
    let inPlace = try #require(datagram.withUnsafeBytes { RelayEncapsulation.parse($0) })
    #expect(inPlace.client == client)
    #expect(inPlace.payloadOffset == headerLength)
}

@Test func headerIsTheDocumentedLayout() {
    let header = RelayEncapsulation.encapsulate([], client: PeerAddress("192.0.2.7:4660")!)
    #expect(header == [0xFA, 0x14, 0x12, 0x34, 192, 0, 2, 7])
    #expect(RelayEncapsulation.parse(header)?.payload.isEmpty == true)
}

/// The TCP mark (docs/relay-encapsulation.md): bit 3 of the second byte, free in families 4
/// and 6; without it a header reads as UDP, as every header did before.
@Test(arguments: [(PeerAddress("192.0.2.7:4660")!, UInt8(0x1C)), (PeerAddress("[2001:db8::7]:443")!, UInt8(0x1E))])
func tcpClientsAreMarkedInTheSecondByte(client: PeerAddress, secondByte: UInt8) throws {
    let datagram = RelayEncapsulation.encapsulate(payload, client: client, transport: .tcp)
    #expect(datagram[1] == secondByte)
    let parsed = try #require(RelayEncapsulation.parse(datagram))
    #expect(parsed.client == client && parsed.transport == .tcp && Array(parsed.payload) == payload)
    #expect(RelayEncapsulation.parse(RelayEncapsulation.encapsulate(payload, client: client))?.transport == .udp)
    // A reader that predates the mark took the low nibble as the family: 12 or 14, rejected.
    #expect(![4, 6].contains(datagram[1] & 0x0F))
}

@Test func writeHeaderRefusesAShortBuffer() {
    var buffer = [UInt8](repeating: 0, count: 19)
    let written = buffer.withUnsafeMutableBytes {
        RelayEncapsulation.writeHeader(client: PeerAddress("[::1]:1")!, into: $0)
    }
    #expect(written == 0)
    #expect(buffer.allSatisfy { $0 == 0 })
}

@Test func malformedHeadersAreRejected() {
    let valid = RelayEncapsulation.encapsulate(payload, client: PeerAddress("[2001:db8::7]:443")!)
    #expect(RelayEncapsulation.parse([]) == nil)
    #expect(RelayEncapsulation.parse(Array(valid.prefix(19))) == nil)
    #expect(RelayEncapsulation.parse([0xFA, 0x14, 0, 1, 127, 0, 0]) == nil)
    #expect(RelayEncapsulation.parse([0xFB, 0x14, 0, 1, 127, 0, 0, 1]) == nil)
    #expect(RelayEncapsulation.parse([0xFA, 0x24, 0, 1, 127, 0, 0, 1]) == nil)
    #expect(RelayEncapsulation.parse([0xFA, 0x15, 0, 1, 127, 0, 0, 1]) == nil)
    #expect(RelayEncapsulation.parse(payload) == nil)
}

@Test func randomAndMutatedDatagramsNeverCrash() {
    var generator = SeededGenerator(seed: 11)
    let clients = [PeerAddress("10.9.8.7:65535")!, PeerAddress("[fe80::1:2:3:4]:0")!]
    for round in 0..<10_000 {
        var datagram: [UInt8]
        if round.isMultiple(of: 2) {
            datagram = (0..<Int.random(in: 0...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if Bool.random(using: &generator), !datagram.isEmpty { datagram[0] = RelayEncapsulation.marker }
        } else {
            let client = clients[round % 4 / 2]
            datagram = RelayEncapsulation.encapsulate(payload, client: client)
            datagram.removeLast(Int.random(in: 0...datagram.count, using: &generator))
            if !datagram.isEmpty, Bool.random(using: &generator) {
                datagram[Int.random(in: 0..<datagram.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
        }
        let parsed = RelayEncapsulation.parse(datagram)
        if let parsed {
            #expect(parsed.payload.count == datagram.count - RelayEncapsulation.headerLength(for: parsed.client))
            #expect(RelayEncapsulation.encapsulate(Array(parsed.payload), client: parsed.client, transport: parsed.transport) == datagram)
        }
    }
}
