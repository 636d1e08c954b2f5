import ParleyTestSupport
import ParleyWire
import Testing

private let sampleOpens: [DCEPMessage] = [
    .open(DCEPOpen(channelType: .reliable, label: "oai-events")),
    .open(DCEPOpen(channelType: .partialReliableRetransmitUnordered, priority: 128, reliabilityParameter: 0,
                   label: "lossy", protocol: "json")),
    .open(DCEPOpen(channelType: .partialReliableTimed, reliabilityParameter: 500, label: "", protocol: "é")),
    .ack,
]

@Test func dcepMessagesRoundTrip() throws {
    for message in sampleOpens {
        #expect(try DCEPMessage(parsing: message.serialized()) == message)
    }
}

@Test func dcepOpenMatchesRFC8832Layout() {
    let bytes = DCEPMessage.open(DCEPOpen(channelType: .reliableUnordered, priority: 256, reliabilityParameter: 0,
                                          label: "ab", protocol: "c")).serialized()
    #expect(bytes == [0x03, 0x80, 0x01, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0x61, 0x62, 0x63])
    #expect(DCEPMessage.ack.serialized() == [0x02])
}

@Test func malformedDCEPThrowsTypedErrors() {
    #expect(throws: DCEPParseError.empty) { try DCEPMessage(parsing: []) }
    #expect(throws: DCEPParseError.unknownMessageType(0x07)) { try DCEPMessage(parsing: [0x07]) }
    #expect(throws: DCEPParseError.trailingBytes(1)) { try DCEPMessage(parsing: [0x02, 0]) }
    #expect(throws: DCEPParseError.tooShort(byteCount: 5)) { try DCEPMessage(parsing: [0x03, 0, 0, 0, 0]) }
    #expect(throws: DCEPParseError.unknownChannelType(0x05)) { try DCEPMessage(parsing: [0x03, 0x05] + [UInt8](repeating: 0, count: 10)) }
    #expect(throws: DCEPParseError.lengthMismatch(declared: 3, actual: 1)) {
        try DCEPMessage(parsing: [0x03, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0x61])
    }
    #expect(throws: DCEPParseError.labelNotUTF8) { try DCEPMessage(parsing: [0x03, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xFF]) }
    #expect(throws: DCEPParseError.protocolNotUTF8) { try DCEPMessage(parsing: [0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xC3]) }
}

@Test func tenThousandMutatedDCEPMessagesParseOrThrow() {
    var generator = SeededGenerator(seed: 0xDCE9)
    let valid = sampleOpens.map { $0.serialized() }
    var parsed = 0
    for _ in 0..<10_000 {
        var bytes = valid.randomElement(using: &generator) ?? []
        switch Int.random(in: 0..<4, using: &generator) {
        case 0:
            for _ in 0..<Int.random(in: 1...4, using: &generator) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
        case 1: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
        case 2: bytes += (0..<Int.random(in: 1...8, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        default: bytes = (0..<Int.random(in: 0...24, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        if let message = try? DCEPMessage(parsing: bytes) {
            parsed += 1
            #expect((try? DCEPMessage(parsing: message.serialized())) == message)
        }
    }
    #expect(parsed > 100)
}
