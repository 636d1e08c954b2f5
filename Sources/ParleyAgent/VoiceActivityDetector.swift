#if canImport(Glibc)
import Glibc
#endif

/// Server-side voice activity detection on decoded audio: frame energy against an adaptive
/// noise floor, with hysteresis (a louder margin to start than to stay in speech), a
/// minimum run of voiced frames to start, and `silenceDuration` of quiet to stop. The
/// configuration mirrors the Realtime API's `turn_detection` (`threshold`,
/// `prefix_padding_ms`, `silence_duration_ms`).
public struct VoiceActivityDetector: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// 0…1; higher needs louder speech relative to the noise floor (0.5 by default).
        public var threshold: Double
        /// Audio kept from before the detected start, so the utterance is not clipped.
        public var prefixPadding: Duration
        /// Quiet needed after speech before the turn is over.
        public var silenceDuration: Duration

        public init(threshold: Double = 0.5, prefixPadding: Duration = .milliseconds(300), silenceDuration: Duration = .milliseconds(500)) {
            self.threshold = threshold
            self.prefixPadding = prefixPadding
            self.silenceDuration = silenceDuration
        }
    }

    public enum Event: Sendable, Equatable {
        /// Speech began; `audioStart` is its position in the stream, prefix padding included.
        case speechStarted(audioStart: Duration)
        /// Speech ended; `audioEnd` is the position of the last voiced frame's end.
        case speechStopped(audioEnd: Duration)
    }

    public var configuration: Configuration
    public let frameDuration: Duration
    public private(set) var isSpeaking = false
    /// The current noise-floor estimate, in dBFS.
    public private(set) var noiseFloor: Double = -60

    /// Frames of onset needed before speech is declared (60 ms at 20 ms frames).
    public static let onsetFrames = 3
    /// Frames that only calibrate the noise floor when a stream starts.
    private static let calibrationFrames = 10
    /// Below this level a frame is never speech, whatever the floor (digital silence, hiss).
    private static let absoluteMinimum: Double = -55
    private var framesSeen: Int64 = 0
    private var voicedRun = 0
    private var lastVoicedFrame: Int64 = 0

    public init(configuration: Configuration = .init(), frameDuration: Duration = .milliseconds(20)) {
        self.configuration = configuration
        self.frameDuration = frameDuration
    }

    /// The RMS level of `samples` in dBFS (−100 for silence).
    public static func level(of samples: [Int16]) -> Double {
        guard !samples.isEmpty else { return -100 }
        var sum: Double = 0
        for sample in samples {
            let value = Double(sample) / 32_768
            sum += value * value
        }
        let rms = (sum / Double(samples.count)).squareRoot()
        return rms > 0 ? max(-100, 20 * log10(rms)) : -100
    }

    /// Margin above the floor that starts speech: 6 dB at threshold 0, 24 dB at 1.
    private var startMargin: Double { 6 + 18 * min(1, max(0, configuration.threshold)) }
    /// Margin that keeps speech going: half the start margin (the hysteresis).
    private var stayMargin: Double { startMargin / 2 }

    /// Feeds one frame; returns an event when speech starts or stops at this frame.
    public mutating func process(_ samples: [Int16]) -> Event? {
        let level = Self.level(of: samples)
        framesSeen += 1
        if framesSeen <= Self.calibrationFrames {
            noiseFloor = framesSeen == 1 ? level : noiseFloor + (level - noiseFloor) * 0.3
            return nil
        }
        if isSpeaking {
            if level > max(Self.absoluteMinimum, noiseFloor + stayMargin) {
                lastVoicedFrame = framesSeen
            } else if frameDuration * Int(framesSeen - lastVoicedFrame) >= configuration.silenceDuration {
                isSpeaking = false
                voicedRun = 0
                return .speechStopped(audioEnd: frameDuration * Int(lastVoicedFrame))
            }
            return nil
        }
        if level > max(Self.absoluteMinimum, noiseFloor + startMargin) {
            voicedRun += 1
            if voicedRun >= Self.onsetFrames {
                isSpeaking = true
                lastVoicedFrame = framesSeen
                let onset = frameDuration * Int(framesSeen - Int64(voicedRun))
                let start = max(.zero, onset - configuration.prefixPadding)
                return .speechStarted(audioStart: start)
            }
        } else {
            voicedRun = 0
            // Track the floor: fall quickly to quieter frames, rise slowly to louder ones.
            let rate = level < noiseFloor ? 0.3 : 0.02
            noiseFloor += (level - noiseFloor) * rate
        }
        return nil
    }
}
