import ParleyWire

/// How a load-generator call talks to a voice agent (`--turns SPEECH:PAUSE`): `speech` of its
/// tone, then `pause` of silence in which the agent's answer is expected, over and over.
public struct TurnPattern: Sendable, Equatable {
    public var speech: Duration
    public var pause: Duration

    public init(speech: Duration, pause: Duration) {
        self.speech = speech
        self.pause = pause
    }

    /// Parses `SPEECH:PAUSE` in seconds (`1:3`, `0.6:2.5`); nil unless both are at least one
    /// 20 ms frame.
    public init?(argument: String) {
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let speech = Double(parts[0]), let pause = Double(parts[1]),
              speech >= 0.02, pause >= 0.02, speech.isFinite, pause.isFinite else { return nil }
        self.speech = .nanoseconds(Int64(speech * 1e9))
        self.pause = .nanoseconds(Int64(pause * 1e9))
    }
}

/// A range of seconds, `MIN-MAX` on the command line (`--call-lifetime 20-60`).
public struct SecondsRange: Sendable, Equatable {
    public var lowerBound: Duration
    public var upperBound: Duration

    public init(_ range: ClosedRange<Duration>) {
        lowerBound = range.lowerBound
        upperBound = range.upperBound
    }

    /// Parses `MIN-MAX` (or one number for a fixed length) in seconds; nil unless
    /// 0 < MIN ≤ MAX.
    public init?(argument: String) {
        let parts = argument.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let low = Double(parts[0]), let high = Double(parts[parts.count - 1]),
              low > 0, low <= high, high.isFinite else { return nil }
        lowerBound = .nanoseconds(Int64(low * 1e9))
        upperBound = .nanoseconds(Int64(high * 1e9))
    }

    /// A length drawn uniformly from the range.
    public func random(using generator: inout some RandomNumberGenerator) -> Duration {
        .nanoseconds(Int64.random(in: lowerBound.nanosecondsRounded...upperBound.nanosecondsRounded, using: &generator))
    }
}

/// The caller's side of turn-taking with a voice agent, frame by frame. Sans-IO: the call
/// says which frame it is about to send and when audio arrived; this says whether the frame
/// is speech and keeps the tally.
///
/// The first `leadInFrames` are silence, so the agent's voice activity detector calibrates its
/// noise floor on quiet. Then each turn is `speech` of tone and `pause` of silence. Audio
/// that arrives during a turn's pause is the agent's answer to it. A turn is *taken* when its
/// pause is over (a call that hangs up mid-pause leaves that turn out) and *answered* when at
/// least half as many packets as its speech had frames arrived in the pause: the built-in
/// agent speaks each utterance back whole, so an answer to one second of speech is longer
/// than one second, and half of it survives any loss the soak's impairment makes.
struct TurnTaking: Sendable {
    static let frameDuration: Duration = .milliseconds(20)
    /// Half a second of silence before the first turn.
    static let leadInFrames: UInt64 = 25

    let speechFrames: UInt64
    let pauseFrames: UInt64

    private(set) var turnsTaken = 0
    private(set) var turnsAnswered = 0
    /// Audio packets that arrived during pauses.
    private(set) var answerPackets: UInt64 = 0
    /// Audio packets that arrived during the lead-in or while the caller spoke (an answer
    /// that runs into the next turn is cut off there: the agent yields to the caller).
    private(set) var packetsOutsidePauses: UInt64 = 0
    /// For each pause that heard the agent: end of the caller's speech (its first silent
    /// frame sent) to the answer's first packet. Includes the agent's end-of-turn silence window.
    private(set) var answerLatencies: [Duration] = []

    /// The pause in progress: when it began and the packets it has had.
    private var pause: (startedAt: Instant, packets: UInt64)?

    init(pattern: TurnPattern) {
        speechFrames = UInt64(max(1, pattern.speech.nanosecondsRounded / Self.frameDuration.nanosecondsRounded))
        pauseFrames = UInt64(max(1, pattern.pause.nanosecondsRounded / Self.frameDuration.nanosecondsRounded))
    }

    /// Packets a pause needs for its turn to count as answered.
    var packetsForAnswer: UInt64 { max(1, speechFrames / 2) }

    /// Frame `index` (0 for the call's first) is about to be sent at `now`: true when it
    /// carries speech. Frames come in order, one call per frame.
    mutating func willSend(frame index: UInt64, now: Instant) -> Bool {
        guard index >= Self.leadInFrames else { return false }
        let speaking = (index - Self.leadInFrames) % (speechFrames + pauseFrames) < speechFrames
        if speaking, let ended = pause {
            turnsTaken += 1
            if ended.packets >= packetsForAnswer { turnsAnswered += 1 }
            pause = nil
        } else if !speaking, pause == nil {
            pause = (now, 0)
        }
        return speaking
    }

    /// An audio packet from the agent arrived at `now`.
    mutating func audioReceived(now: Instant) {
        guard var current = pause else {
            packetsOutsidePauses += 1
            return
        }
        if current.packets == 0 { answerLatencies.append(now - current.startedAt) }
        current.packets += 1
        answerPackets += 1
        pause = current
    }
}
