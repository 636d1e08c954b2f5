import ParleyTestSupport
import ParleyWebRTC
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct OpusCodecTests {
    static func sine(frequency: Double, sampleRate: Int, count: Int, amplitude: Double = 12_000) -> [Int16] {
        (0..<count).map { Int16(amplitude * sin(2 * Double.pi * frequency * Double($0) / Double(sampleRate))) }
    }

    /// Magnitude of one DFT bin at `frequency` (a Goertzel-style single-bin sum).
    static func magnitude(_ samples: ArraySlice<Int16>, frequency: Double, sampleRate: Int) -> Double {
        var real = 0.0
        var imaginary = 0.0
        for (index, sample) in samples.enumerated() {
            let angle = 2 * Double.pi * frequency * Double(index) / Double(sampleRate)
            real += Double(sample) * cos(angle)
            imaginary -= Double(sample) * sin(angle)
        }
        return (real * real + imaginary * imaginary).squareRoot()
    }

    static func energy(_ samples: ArraySlice<Int16>) -> Double {
        samples.reduce(0) { $0 + Double($1) * Double($1) } / Double(max(samples.count, 1))
    }

    @Test(arguments: [Int32(48_000), 24_000])
    func sineSurvivesEncodeDecode(sampleRate: Int32) throws {
        let rate = Int(sampleRate)
        let frameSize = rate / 50
        let encoder = try OpusEncoder(sampleRate: sampleRate, channels: 1)
        let decoder = try OpusDecoder(sampleRate: sampleRate, channels: 1)
        let input = Self.sine(frequency: 1000, sampleRate: rate, count: frameSize * 50)
        var output: [Int16] = []
        for frame in 0..<50 {
            let packet = try encoder.encode(Array(input[frame * frameSize..<(frame + 1) * frameSize]))
            #expect(!packet.isEmpty && packet.count < 400)
            let pcm = try decoder.decode(packet)
            #expect(pcm.count == frameSize)
            output += pcm
        }
        // Skip the first 200 ms: the encoder's look-ahead and the decoder's start-up.
        let settled = output[(10 * frameSize)...]
        let target = Self.magnitude(settled, frequency: 1000, sampleRate: rate)
        for other in [250.0, 500, 1500, 2000, 3000, 5000] {
            #expect(target > 10 * Self.magnitude(settled, frequency: other, sampleRate: rate), "1 kHz vs \(other) Hz")
        }
        let ratio = Self.energy(settled) / Self.energy(input[(10 * frameSize)...])
        #expect(ratio > 0.5 && ratio < 2, "energy ratio \(ratio)")
    }

    @Test func stereoAndConcealmentGiveTheRightFrameSizes() throws {
        let encoder = try OpusEncoder(sampleRate: 48_000, channels: 2, bitrate: 64_000)
        let decoder = try OpusDecoder(sampleRate: 48_000, channels: 2)
        let mono = Self.sine(frequency: 440, sampleRate: 48_000, count: 960)
        let stereo = mono.flatMap { [$0, $0] }
        let first = try encoder.encode(stereo)
        let second = try encoder.encode(stereo)
        #expect(try decoder.decode(first).count == 1920)
        #expect(try decoder.decodeMissing(frameSize: 960).count == 1920)
        #expect(try decoder.decodeMissing(frameSize: 480).count == 960)
        #expect(try decoder.decodeMissing(frameSize: 960, fromNext: second).count == 1920)
        #expect(try decoder.decode(second).count == 1920)

        let mono24 = try OpusDecoder(sampleRate: 24_000, channels: 1)
        #expect(try mono24.decodeMissing(frameSize: 480).count == 480)
    }

    @Test func invalidInputThrows() throws {
        let encoder = try OpusEncoder(sampleRate: 48_000, channels: 1)
        #expect(throws: OpusError.self) { try encoder.encode(Array(repeating: 0, count: 1000)) }
        #expect(throws: OpusError.self) { try encoder.encode([]) }
        #expect(throws: OpusError.self) { try OpusEncoder(sampleRate: 44_100, channels: 1) }
        #expect(throws: OpusError.self) { try OpusDecoder(sampleRate: 48_000, channels: 3) }

        let decoder = try OpusDecoder(sampleRate: 48_000, channels: 1)
        #expect(throws: OpusError.self) { try decoder.decode([]) }
        // Code 1 (two equal frames) needs an even payload (RFC 6716 §3.2.3).
        #expect(throws: OpusError.self) { try decoder.decode([0x01, 0xAA, 0xBB, 0xCC]) }
        // Code 3 with a frame count of zero (RFC 6716 §3.2.5).
        #expect(throws: OpusError.self) { try decoder.decode([0x03, 0x00]) }
        #expect(throws: OpusError.self) { try decoder.decodeMissing(frameSize: 0) }
        #expect(throws: OpusError.self) { try decoder.decodeMissing(frameSize: 10_000) }
    }

    @Test func randomPacketsDecodeOrThrowNeverCrash() throws {
        let decoder = try OpusDecoder(sampleRate: 48_000, channels: 2)
        var random = SeededGenerator(seed: 6716)
        var decoded = 0
        for _ in 0..<2_000 {
            let packet = (0..<Int.random(in: 1...1500, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            if let pcm = try? decoder.decode(packet) {
                #expect(pcm.count % 2 == 0 && pcm.count <= 5760 * 2)
                decoded += 1
            }
        }
        #expect(decoded < 2_000)
    }
}
