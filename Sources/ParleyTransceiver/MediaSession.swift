import NIOCore
import ParleyWebRTC
import ParleyWire

/// Identifies one call in the signaling API (`/v1/realtime/calls/{id}`).
public struct SessionID: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String

    public init?(rawValue: String) {
        guard rawValue.hasPrefix("rtc_"), rawValue.count == 28,
              rawValue.dropFirst(4).allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
        self.rawValue = rawValue
    }

    static func random() -> SessionID {
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<3).map { _ in
            let value = generator.next() as UInt64
            let text = String(value, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }.joined().prefix(24)
        return SessionID(rawValue: "rtc_" + hex)!
    }

    public var description: String { rawValue }
}

/// One call as the runtime holds it: the sans-IO `PeerConnection`, the Opus codec pair and
/// the paced output of the echo: what the caller says is decoded, re-encoded and sent back.
/// Lives on the media event loop for its whole life.
final class MediaSession {
    /// 20 ms at the 24 kHz rate Parley decodes and encodes at.
    static let samplesPerFrame = 480
    static let sampleRate: Int32 = 24_000

    let id: SessionID
    let serverUfrag: String
    let connection: PeerConnection
    let createdAt: Instant
    private let decoder: OpusDecoder
    private let encoder: OpusEncoder
    private(set) var output = PacedAudioOutput()
    private var pendingSamples: [Int16] = []
    private var lastReceivedSequence: UInt16?
    var timer: Scheduled<Void>?
    var timerDeadline: Instant?
    var iceConnectedAt: Instant?
    var dtlsConnectedAt: Instant?
    var firstAudioSentAt: Instant?
    var isRemoved = false

    init(id: SessionID, serverUfrag: String, connection: PeerConnection, createdAt: Instant) throws(OpusError) {
        self.id = id
        self.serverUfrag = serverUfrag
        self.connection = connection
        self.createdAt = createdAt
        decoder = try OpusDecoder(sampleRate: Self.sampleRate, channels: 1)
        encoder = try OpusEncoder(sampleRate: Self.sampleRate, channels: 1)
    }

    /// Decodes one received Opus packet (concealing a short gap first, RFC 6716 §4.4)
    /// and queues its audio for the echo in 20 ms frames.
    func receiveAudio(_ audio: PeerConnection.ReceivedAudio, now: Instant) throws(OpusError) {
        if let last = lastReceivedSequence {
            let gap = audio.sequenceNumber &- last
            guard gap != 0, gap < 0x8000 else { return }
            if gap > 1, gap <= 5 {
                for _ in 1..<gap {
                    enqueue(try decoder.decodeMissing(frameSize: Self.samplesPerFrame), now: now)
                }
            }
        }
        lastReceivedSequence = audio.sequenceNumber
        enqueue(try decoder.decode(audio.payload), now: now)
    }

    private func enqueue(_ samples: [Int16], now: Instant) {
        pendingSamples += samples
        var start = 0
        while pendingSamples.count - start >= Self.samplesPerFrame {
            output.enqueue(Array(pendingSamples[start..<start + Self.samplesPerFrame]), now: now)
            start += Self.samplesPerFrame
        }
        pendingSamples.removeFirst(start)
    }

    /// Sends every output frame that is due. Returns true when one went out.
    func sendDueAudio(now: Instant) throws(OpusError) -> Bool {
        var sent = false
        while let frame = output.poll(now: now) {
            let packet = try encoder.encode(frame.samples)
            connection.sendAudio(packet, mediaTime: frame.mediaTime, marker: frame.marker, now: now)
            sent = true
        }
        return sent
    }

    func nextDeadline() -> Instant? {
        connection.nextDeadline().earliest(connection.isMediaReady ? output.nextDeadline() : nil)
    }
}
