import Foundation
import ParleyAgent
import ParleyTestSupport
import Testing

/// Synthetic audio at 24 kHz in 20 ms frames: tones stand in for voiced speech, seeded
/// noise for a room.
enum Signal {
    static let frameSamples = 480

    static func tone(frequency: Double = 220, dBFS: Double, frames: Int, startFrame: Int = 0) -> [[Int16]] {
        let amplitude = pow(10, dBFS / 20) * 32_767 * 2.0.squareRoot()
        return (0..<frames).map { frame in
            (0..<frameSamples).map { index in
                let t = Double((startFrame + frame) * frameSamples + index) / 24_000
                return Int16(clamping: Int(amplitude * sin(2 * Double.pi * frequency * t)))
            }
        }
    }

    static func noise(dBFS: Double, frames: Int, seed: UInt64 = 1) -> [[Int16]] {
        var generator = SeededGenerator(seed: seed)
        let amplitude = pow(10, dBFS / 20) * 32_767 * 3.0.squareRoot()
        return (0..<frames).map { _ in
            (0..<frameSamples).map { _ in Int16(clamping: Int(Double.random(in: -1...1, using: &generator) * amplitude)) }
        }
    }
}

@Suite struct VoiceActivityDetectorTests {
    func events(_ frames: [[Int16]], configuration: VoiceActivityDetector.Configuration = .init()) -> [(Int, VoiceActivityDetector.Event)] {
        var detector = VoiceActivityDetector(configuration: configuration)
        return frames.enumerated().compactMap { index, frame in detector.process(frame).map { (index, $0) } }
    }

    @Test func levelOfAFullScaleSineIsAboutMinusThreeDB() {
        let level = VoiceActivityDetector.level(of: Signal.tone(dBFS: -3, frames: 1)[0])
        #expect(abs(level - (-3)) < 0.5)
        #expect(VoiceActivityDetector.level(of: [Int16](repeating: 0, count: 480)) == -100)
    }

    @Test func silenceAndSteadyNoiseAreNotSpeech() {
        #expect(events(Signal.noise(dBFS: -70, frames: 200)).isEmpty)
        #expect(events(Signal.noise(dBFS: -35, frames: 300)).isEmpty)
    }

    @Test func aBurstOverNoiseIsOneTurnWithPaddingAndSilenceRespected() {
        let frames = Signal.noise(dBFS: -50, frames: 50) + Signal.tone(dBFS: -20, frames: 50) + Signal.noise(dBFS: -50, frames: 60, seed: 2)
        let found = events(frames)
        #expect(found.count == 2)
        guard found.count == 2 else { return }
        // Onset at frame 50 is confirmed 3 frames later; the start goes back 300 ms of padding.
        #expect(found[0].0 == 52)
        #expect(found[0].1 == .speechStarted(audioStart: .milliseconds(700)))
        // The last voiced frame ends at 2.0 s; the stop comes after 500 ms of quiet.
        #expect(found[1].1 == .speechStopped(audioEnd: .milliseconds(2_000)))
        #expect(found[1].0 == 124)
    }

    @Test func shortPausesInsideSpeechDoNotEndTheTurn() {
        let frames = Signal.noise(dBFS: -60, frames: 20) + Signal.tone(dBFS: -20, frames: 30) + Signal.noise(dBFS: -60, frames: 10)
            + Signal.tone(dBFS: -20, frames: 30) + Signal.noise(dBFS: -60, frames: 40)
        let found = events(frames)
        #expect(found.map(\.1).filter { if case .speechStarted = $0 { true } else { false } }.count == 1)
        #expect(found.count == 2)
    }

    @Test func higherThresholdIgnoresQuieterSpeech() {
        let frames = Signal.noise(dBFS: -50, frames: 50) + Signal.tone(dBFS: -38, frames: 50) + Signal.noise(dBFS: -50, frames: 50)
        #expect(events(frames, configuration: .init(threshold: 0.1)).count == 2)
        #expect(events(frames, configuration: .init(threshold: 0.9)).isEmpty)
    }
}
