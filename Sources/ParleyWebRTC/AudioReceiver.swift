import ParleyWire

/// The inbound audio of one call: an `AudioJitterBuffer` in front of an `OpusDecoder`,
/// yielding mono PCM in 20 ms frames at the decoder's rate (RFC 7587; in-band FEC and loss
/// concealment as RFC 6716 §2.1.7 and §4.4 describe). Sans-IO: time comes in as `Instant`.
///
/// A packet longer than 20 ms yields several frames at its slot; packets shorter than 20 ms
/// are gathered until a frame is full. A packet libopus rejects is concealed instead and
/// counted in `decodeFailures`.
///
/// Not thread-safe: it belongs to one call on one event loop.
///
/// ```swift
/// let receiver = try AudioReceiver()                     // 24 kHz, 480 samples per frame
/// // on every PeerConnection `.audio(received)` event:
/// receiver.insert(received, now: now)
/// // on every wake-up (arrivals and the armed deadline alike):
/// while let frame = receiver.pollFrame(now: now) { backend.receiveAudio(frame) }
/// arm(receiver.nextDeadline())                           // nil: nothing to play until a packet comes
/// // metrics: receiver.counters.late → parley_packets_dropped_total{reason="late"}, ...
/// ```
public final class AudioReceiver {
    public static let frameDuration: Duration = .milliseconds(20)

    public let sampleRate: Int32
    /// Samples in one 20 ms frame at `sampleRate` (480 at 24 kHz).
    public let samplesPerFrame: Int
    public private(set) var buffer: AudioJitterBuffer
    /// Packets libopus rejected; each was concealed instead.
    public private(set) var decodeFailures: UInt64 = 0
    private let decoder: OpusDecoder
    private var pending: [Int16] = []
    /// When the samples in `pending` became playable.
    private var pendingSince: Instant?

    /// `sampleRate` is the decoder's output rate: 8000, 12000, 16000, 24000 or 48000.
    public init(sampleRate: Int32 = 24_000, buffer: AudioJitterBuffer = AudioJitterBuffer()) throws(OpusError) {
        decoder = try OpusDecoder(sampleRate: sampleRate, channels: 1)
        self.sampleRate = sampleRate
        samplesPerFrame = Int(sampleRate) / 50
        self.buffer = buffer
    }

    /// The jitter buffer's counters (late, duplicate, concealed, FEC-recovered, overflow...).
    public var counters: AudioJitterBuffer.Counters { buffer.counters }

    /// Takes one received packet; `now` is its arrival time.
    public func insert(_ audio: PeerConnection.ReceivedAudio, now: Instant) {
        buffer.insert(audio, now: now)
    }

    /// When `pollFrame` next has a frame, or nil when it has none until a packet arrives.
    public func nextDeadline() -> Instant? {
        if pending.count >= samplesPerFrame, let pendingSince { return pendingSince }
        return buffer.nextDeadline()
    }

    /// The next 20 ms frame when one is due; nil otherwise. Call until nil.
    public func pollFrame(now: Instant) -> [Int16]? {
        while pending.count < samplesPerFrame, let playout = buffer.poll(now: now) {
            pending += decode(playout)
            pendingSince = now
        }
        guard pending.count >= samplesPerFrame else { return nil }
        let frame = Array(pending[..<samplesPerFrame])
        pending.removeFirst(samplesPerFrame)
        return frame
    }

    private func decode(_ playout: AudioJitterBuffer.Playout) -> [Int16] {
        do {
            switch playout {
            case .decode(let packet):
                guard !packet.payload.isEmpty else { break }
                return try decoder.decode(packet.payload)
            case .decodeFEC(let next, let duration):
                guard !next.payload.isEmpty else { return conceal(ticks: duration) }
                return try decoder.decodeMissing(frameSize: samples(ticks: duration), fromNext: next.payload)
            case .conceal(let duration):
                return conceal(ticks: duration)
            }
        } catch {}
        decodeFailures += 1
        return conceal(ticks: buffer.packetDuration)
    }

    private func conceal(ticks: Int) -> [Int16] {
        (try? decoder.decodeMissing(frameSize: samples(ticks: ticks))) ?? []
    }

    private func samples(ticks: Int) -> Int {
        ticks * Int(sampleRate) / Int(AudioJitterBuffer.ticksPerSecond)
    }
}
