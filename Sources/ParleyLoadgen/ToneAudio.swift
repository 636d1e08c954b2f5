import ParleyWebRTC

#if canImport(Glibc)
import Glibc
#endif

/// The load generator's test signal: each call sends a pure tone of its own frequency as
/// 20 ms Opus frames (RFC 7587: 48 kHz RTP clock), so an echo can be checked to carry the
/// call's own audio and not silence or another call's.
public enum ToneAudio {
    public static let sampleRate = 48_000
    public static let samplesPerFrame = 960
    public static let framesPerSecond = 50
    /// About −12 dBFS: loud enough to survive two Opus generations, far from clipping.
    static let amplitude = 8_000.0

    /// 64 frequencies 40 Hz apart from 300 Hz: integers, so one second holds whole cycles
    /// and a one-second loop has no seam; 40 Hz is 40 bins apart in a one-second analysis.
    public static let frequencies: [Int] = (0..<64).map { 300 + 40 * $0 }

    /// The tone of call `index` (calls 64 apart share a tone).
    public static func frequency(forCall index: Int) -> Int {
        frequencies[index % frequencies.count]
    }

    /// `count` samples of the tone starting at sample `start` of the stream.
    static func samples(frequency: Int, start: Int, count: Int) -> [Int16] {
        (0..<count).map { offset in
            let phase = Double((start + offset) % sampleRate * frequency % sampleRate) / Double(sampleRate)
            return Int16(amplitude * sin(2 * Double.pi * phase))
        }
    }

    /// One second of the tone as 50 Opus frames, encoded after one second of warm-up so the
    /// encoder state at the loop point matches a continuous stream.
    public static func preEncodedSecond(frequency: Int) throws(OpusError) -> [[UInt8]] {
        let encoder = try OpusEncoder(sampleRate: Int32(sampleRate), channels: 1)
        var frames: [[UInt8]] = []
        for frame in 0..<(2 * framesPerSecond) {
            let packet = try encoder.encode(samples(frequency: frequency, start: frame * samplesPerFrame, count: samplesPerFrame))
            if frame >= framesPerSecond { frames.append(packet) }
        }
        return frames
    }

    /// One second of digital silence as 50 Opus frames: the pauses of a call that takes turns.
    public static func preEncodedSilence() throws(OpusError) -> [[UInt8]] {
        let encoder = try OpusEncoder(sampleRate: Int32(sampleRate), channels: 1)
        let silence = [Int16](repeating: 0, count: samplesPerFrame)
        var frames: [[UInt8]] = []
        for _ in 0..<framesPerSecond {
            frames.append(try encoder.encode(silence))
        }
        return frames
    }
}

/// Where one call's outgoing Opus frames come from: a pre-encoded one-second loop (cheap, so
/// the load generator is not the bottleneck) or a live encoder per call (`--opus`). A frame
/// is the tone or, in the pauses of a call that takes turns, silence.
final class ToneSender {
    private enum Source {
        case loop(tone: [[UInt8]], silence: [[UInt8]])
        case live(OpusEncoder)
    }

    let frequency: Int
    private let source: Source
    private var frameIndex = 0

    init(frequency: Int, preEncoded: [[UInt8]], preEncodedSilence: [[UInt8]]) {
        self.frequency = frequency
        source = .loop(tone: preEncoded, silence: preEncodedSilence)
    }

    init(liveFrequency frequency: Int) throws(OpusError) {
        self.frequency = frequency
        source = .live(try OpusEncoder(sampleRate: Int32(ToneAudio.sampleRate), channels: 1))
    }

    /// The next 20 ms frame: the tone, or silence when `speech` is false.
    func nextFrame(speech: Bool = true) throws(OpusError) -> [UInt8] {
        defer { frameIndex += 1 }
        switch source {
        case .loop(let tone, let silence):
            let frames = speech ? tone : silence
            return frames[frameIndex % frames.count]
        case .live(let encoder):
            guard speech else { return try encoder.encode([Int16](repeating: 0, count: ToneAudio.samplesPerFrame)) }
            let start = (frameIndex % ToneAudio.framesPerSecond) * ToneAudio.samplesPerFrame
            return try encoder.encode(ToneAudio.samples(frequency: frequency, start: start, count: ToneAudio.samplesPerFrame))
        }
    }
}

/// Checks that decoded echo audio is dominated by the call's own tone: the Goertzel power at
/// each candidate frequency over the last second, as a share of the total energy.
public struct ToneCheck: Sendable, Codable, Equatable {
    public var frequency: Int
    /// Share of the window's energy at the call's own frequency (1 for a pure tone).
    public var ownShare: Double
    public var strongestOtherFrequency: Int
    public var strongestOtherShare: Double
    public var analyzedSamples: Int
    public var passed: Bool

    /// The own tone must hold half the energy and ten times the strongest other candidate.
    static let minimumShare = 0.5
    static let minimumRatio = 10.0

    init(samples: [Int16], frequency: Int, candidates: [Int] = ToneAudio.frequencies, sampleRate: Int = ToneAudio.sampleRate) {
        self.frequency = frequency
        analyzedSamples = samples.count
        let energy = samples.reduce(0.0) { $0 + Double($1) * Double($1) }
        func share(_ candidate: Int) -> Double {
            guard energy > 0 else { return 0 }
            return Self.goertzelPower(samples, frequency: candidate, sampleRate: sampleRate) * 2 / (Double(samples.count) * energy)
        }
        ownShare = share(frequency)
        var best = (frequency: 0, share: 0.0)
        for candidate in candidates where candidate != frequency {
            let value = share(candidate)
            if value > best.share { best = (candidate, value) }
        }
        strongestOtherFrequency = best.frequency
        strongestOtherShare = best.share
        passed = samples.count >= sampleRate / 2 && ownShare >= Self.minimumShare
            && ownShare >= Self.minimumRatio * strongestOtherShare
    }

    /// |X(f)|² of the samples at one frequency (the Goertzel recurrence).
    static func goertzelPower(_ samples: [Int16], frequency: Int, sampleRate: Int) -> Double {
        let coefficient = 2 * cos(2 * Double.pi * Double(frequency) / Double(sampleRate))
        var previous = 0.0
        var beforePrevious = 0.0
        for sample in samples {
            let current = Double(sample) + coefficient * previous - beforePrevious
            beforePrevious = previous
            previous = current
        }
        return previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious
    }

    /// One line for a report.
    var summary: String {
        let own = Int((ownShare * 100).rounded())
        let other = Int((strongestOtherShare * 100).rounded())
        return "\(frequency) Hz holds \(own)% of the echo energy (strongest other \(strongestOtherFrequency) Hz: \(other)%)"
    }
}
