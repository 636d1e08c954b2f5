import ParleyTestSupport
import ParleyWire
import Testing

/// Random edits of valid packets: byte flips, truncation, length-field rewrites, insertions.
/// Half of them get a fresh checksum so the chunk parsers, not only the CRC, see them.
private func mutatePacket(_ bytes: [UInt8], using generator: inout SeededGenerator) -> [UInt8] {
    var bytes = bytes
    switch Int.random(in: 0..<5, using: &generator) {
    case 0:
        for _ in 0..<Int.random(in: 1...6, using: &generator) where !bytes.isEmpty {
            bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
        }
    case 1:
        bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
    case 2:
        // Rewrite a 16-bit field somewhere after the common header: often a length.
        if bytes.count > 14 {
            let index = Int.random(in: 12..<(bytes.count - 1), using: &generator)
            bytes[index] = UInt8.random(in: 0...255, using: &generator)
            bytes[index + 1] = UInt8.random(in: 0...255, using: &generator)
        }
    case 3:
        let insertion = (0..<Int.random(in: 1...16, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes.insert(contentsOf: insertion, at: Int.random(in: 0...bytes.count, using: &generator))
    default:
        bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
    if bytes.count >= 12, Bool.random(using: &generator) {
        bytes.replaceSubrange(8..<12, with: [0, 0, 0, 0])
        let crc = CRC32.castagnoli.checksum(bytes)
        bytes.replaceSubrange(8..<12, with: [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
    }
    return bytes
}

@Test func tenThousandMutatedPacketsParseOrThrow() {
    var generator = SeededGenerator(seed: 0x5C79)
    var parsed = 0
    var chunkFailures = 0
    let valid = sampleSCTPPackets.map { $0.serialized() }
    for _ in 0..<10_000 {
        let bytes = mutatePacket(valid.randomElement(using: &generator) ?? [], using: &generator)
        guard let (_, chunks) = try? SCTPPacket.parseLeniently(bytes) else { continue }
        for case .failure in chunks { chunkFailures += 1 }
        if let packet = try? SCTPPacket(parsing: bytes) {
            parsed += 1
            // Whatever parses must serialize to something that parses to the same packet.
            #expect((try? SCTPPacket(parsing: packet.serialized())) == packet)
        }
    }
    // Both outcomes occur, so the test exercises the parsers and not only the checksum.
    #expect(parsed > 500)
    #expect(chunkFailures > 100)
}
