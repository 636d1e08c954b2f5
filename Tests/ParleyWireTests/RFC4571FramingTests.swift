import ParleyTestSupport
import ParleyWire
import Testing

/// RFC 4571 §2 framing as ICE-TCP uses it (RFC 6544 §3): a 16-bit length, then the packet.
@Suite struct RFC4571FramingTests {
    @Test func framesComeBackWhateverPiecesTheStreamArrivesIn() throws {
        let packets: [[UInt8]] = [[0, 1, 0, 0], Array(repeating: 7, count: 1_500), [], [0x80, 0x6F, 1, 2, 3]]
        let stream = packets.flatMap(RFC4571Framing.frame)
        #expect(stream.count == packets.reduce(0) { $0 + 2 + $1.count })
        var generator = SeededGenerator(seed: 4)
        for _ in 0..<200 {
            var decoder = RFC4571FrameDecoder(maxFrameLength: 1_500)
            var decoded: [[UInt8]] = []
            var offset = 0
            while offset < stream.count {
                let piece = min(Int.random(in: 1...700, using: &generator), stream.count - offset)
                decoder.append(Array(stream[offset..<(offset + piece)]))
                offset += piece
                while let output = decoder.nextFrame() {
                    guard case .frame(let frame) = output else { Issue.record("\(output)"); return }
                    decoded.append(Array(frame))
                }
                // Never more than one partial frame is held.
                #expect(decoder.bufferedByteCount <= 2 + 1_500)
            }
            #expect(decoded == packets)
            #expect(decoder.bufferedByteCount == 0)
        }
    }

    @Test func theLengthIsBigEndianAndWritten() {
        #expect(RFC4571Framing.frame([9, 9, 9]) == [0, 3, 9, 9, 9])
        #expect(RFC4571Framing.frame(Array(repeating: 1, count: 0x0102)).prefix(2) == [0x01, 0x02])
        var header = [UInt8](repeating: 0, count: 2)
        #expect(header.withUnsafeMutableBytes { RFC4571Framing.writeHeader(payloadLength: 0xABCD, into: $0) } == 2)
        #expect(header == [0xAB, 0xCD])
        #expect(header.withUnsafeMutableBytes { RFC4571Framing.writeHeader(payloadLength: 65_536, into: $0) } == 0)
        #expect(header.withUnsafeMutableBytes { RFC4571Framing.writeHeader(payloadLength: 1, into: UnsafeMutableRawBufferPointer(rebasing: $0[..<1])) } == 0)
    }

    @Test func anOversizeLengthStopsTheDecoderForGood() {
        var decoder = RFC4571FrameDecoder(maxFrameLength: 1_500)
        decoder.append(RFC4571Framing.frame([1, 2]) + [0x05, 0xDD] + Array(repeating: 0, count: 40))
        #expect(decoder.nextFrame() == .frame([1, 2]))
        #expect(decoder.nextFrame() == .oversize(length: 1_501))
        #expect(decoder.hasFailed && decoder.bufferedByteCount == 0)
        decoder.append(RFC4571Framing.frame([3]))
        #expect(decoder.nextFrame() == nil && decoder.bufferedByteCount == 0)
    }

    @Test func randomStreamsNeverCrashOrHoldMoreThanOneFrame() {
        var generator = SeededGenerator(seed: 12)
        for _ in 0..<2_000 {
            var decoder = RFC4571FrameDecoder(maxFrameLength: Int.random(in: 0...1_500, using: &generator))
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                let bytes = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                decoder.append(bytes)
                while let output = decoder.nextFrame() {
                    if case .frame(let frame) = output { #expect(frame.count <= decoder.maxFrameLength) }
                }
                #expect(decoder.bufferedByteCount <= 2 + decoder.maxFrameLength)
            }
        }
    }
}
