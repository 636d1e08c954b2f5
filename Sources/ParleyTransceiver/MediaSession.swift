#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import ParleyNIO
import ParleyAgent
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

/// One call as the runtime holds it: the sans-IO `PeerConnection`, the Opus codec pair, the
/// call's backend (built-in agent, echo, or an external one over WebSocket) and the paced
/// output of what the backend says. Lives on the media event loop for its whole life.
final class MediaSession {
    /// 20 ms at the 24 kHz rate Parley decodes and encodes at.
    static let samplesPerFrame = 480
    static let sampleRate: Int32 = 24_000
    /// Opus complexity 5 instead of libopus's default 10: at 100 echo calls on one core,
    /// 10 saturated the core where 5 used 0.8 of it (BENCHMARKS.md). The environment variable
    /// `PARLEY_OPUS_COMPLEXITY` (0-10) overrides it, so benchmarks can compare the two.
    static let encoderComplexity: Int32 = {
        guard let text = getenv("PARLEY_OPUS_COMPLEXITY"), let value = Int32(String(cString: text)),
              (0...10).contains(value) else { return 5 }
        return value
    }()
    /// Events for the caller wait here until the data channel takes them.
    static let clientEventLimit = 256
    /// The data channel of the Realtime API's WebRTC calls.
    static let eventsChannelLabel = "oai-events"

    let id: SessionID
    let serverUfrag: String
    let connection: PeerConnection
    let backend: any CallBackend
    let createdAt: Instant
    private let metrics: TransceiverMetrics
    /// Made on first use: idle calls and the packet echo never need them (about 40 KiB).
    private var decoder: OpusDecoder?
    private var encoder: OpusEncoder?
    private(set) var output = PacedAudioOutput()
    private var inputSamples: [Int16] = []
    private var inputMediaTime: UInt32 = 0
    private var outputSamples: [Int16] = []
    private var outputTag: String?
    private var lastReceivedSequence: UInt16?
    private var firstEchoTimestamp: UInt32?
    /// The response being played and how many of its frames went out.
    private var playing: (responseID: String, frames: Int)?
    private var speechStoppedAt: Instant?
    private(set) var clientEvents: [RealtimeEvent] = []
    /// The stream of the `oai-events` data channel once the caller opened it.
    private var eventsChannel: UInt16?
    /// Why the backend failed, once it has; the call then ends.
    private(set) var backendFailure: String?
    /// The relay each validated client address came through (nil: directly).
    var relayByClient: [PeerAddress: PeerAddress?] = [:]
    /// Where this session's datagrams go (its client, or the relay it came through).
    var destination = SocketAddressCache()
    var timer: Scheduled<Void>?
    var timerDeadline: Instant?
    var firstAudioSentAt: Instant?
    var isRemoved = false

    init(id: SessionID, serverUfrag: String, connection: PeerConnection, backend: any CallBackend,
         metrics: TransceiverMetrics, createdAt: Instant) {
        self.id = id
        self.serverUfrag = serverUfrag
        self.connection = connection
        self.backend = backend
        self.metrics = metrics
        self.createdAt = createdAt
    }

    private func opusDecoder() throws(OpusError) -> OpusDecoder {
        if let decoder { return decoder }
        let made = try OpusDecoder(sampleRate: Self.sampleRate, channels: 1)
        decoder = made
        return made
    }

    private func opusEncoder() throws(OpusError) -> OpusEncoder {
        if let encoder { return encoder }
        let made = try OpusEncoder(sampleRate: Self.sampleRate, channels: 1, complexity: Self.encoderComplexity)
        encoder = made
        return made
    }

    // MARK: Caller audio in

    /// Decodes one received Opus packet (concealing a short gap first, RFC 6716 §4.4) and
    /// hands the backend 20 ms frames.
    func receiveAudio(_ audio: PeerConnection.ReceivedAudio) throws(OpusError) {
        let decoder = try opusDecoder()
        if let last = lastReceivedSequence {
            let gap = audio.sequenceNumber &- last
            guard gap != 0, gap < 0x8000 else { return }
            if gap > 1, gap <= 5 {
                for _ in 1..<gap {
                    deliverInput(try decoder.decodeMissing(frameSize: Self.samplesPerFrame))
                }
            }
        }
        lastReceivedSequence = audio.sequenceNumber
        deliverInput(try decoder.decode(audio.payload))
    }

    /// Sends a received Opus packet straight back, keeping the caller's timing: the
    /// transport-only echo (`--backend packet-echo`).
    func echoPacket(_ audio: PeerConnection.ReceivedAudio, now: Instant) {
        let base = firstEchoTimestamp ?? audio.rtpTimestamp
        firstEchoTimestamp = base
        connection.sendAudio(audio.payload, mediaTime: audio.rtpTimestamp &- base, marker: false, now: now)
    }

    private func deliverInput(_ samples: [Int16]) {
        inputSamples += samples
        var start = 0
        while inputSamples.count - start >= Self.samplesPerFrame {
            backend.receiveAudio(Array(inputSamples[start..<start + Self.samplesPerFrame]), mediaTime: inputMediaTime)
            inputMediaTime &+= UInt32(Self.samplesPerFrame)
            start += Self.samplesPerFrame
        }
        inputSamples.removeFirst(start)
    }

    // MARK: Backend out

    /// Takes everything the backend produced. Returns true when something was taken.
    func pumpBackend(now: Instant) -> Bool {
        var progressed = false
        while let item = backend.pollOutput() {
            progressed = true
            switch item {
            case .audio(let samples, let responseID):
                queueOutput(samples, tag: responseID, now: now)
            case .event(let event):
                if event.type == "input_audio_buffer.speech_stopped" { speechStoppedAt = now }
                sendToClient(event)
            case .clearOutput:
                clearOutput()
            case .failed(let reason):
                guard backendFailure == nil else { continue }
                backendFailure = reason
                sendToClient(.error(code: "backend_failed", message: reason))
            }
        }
        return progressed
    }

    private func queueOutput(_ samples: [Int16], tag: String?, now: Instant) {
        if tag != outputTag, !outputSamples.isEmpty {
            // A new response starts on a frame boundary: pad out what the last one left.
            outputSamples += [Int16](repeating: 0, count: Self.samplesPerFrame - outputSamples.count)
            output.enqueue(outputSamples, tag: outputTag, now: now)
            outputSamples.removeAll()
        }
        outputTag = tag
        outputSamples += samples
        var start = 0
        while outputSamples.count - start >= Self.samplesPerFrame {
            output.enqueue(Array(outputSamples[start..<start + Self.samplesPerFrame]), tag: tag, now: now)
            start += Self.samplesPerFrame
        }
        outputSamples.removeFirst(start)
    }

    /// Drops all queued output at once and reports how much of the response was played.
    private func clearOutput() {
        output.clear()
        outputSamples.removeAll()
        encoder?.reset()
        guard let current = playing else { return }
        playing = nil
        let playedMilliseconds = current.frames * 20
        sendToClient(RealtimeEvent(type: "output_audio_buffer.cleared", fields: [
            "response_id": .string(current.responseID), "played_ms": .number(Double(playedMilliseconds))]))
        backend.outputCleared(responseID: current.responseID, playedMilliseconds: playedMilliseconds)
    }

    /// Sends every output frame that is due, with playback events around responses.
    /// Returns true when a frame went out.
    func sendDueAudio(now: Instant) throws(OpusError) -> Bool {
        var sent = false
        let wasPlaying = output.isPlaying
        while let frame = output.poll(now: now) {
            if let tag = frame.tag, playing?.responseID != tag {
                playing = (tag, 0)
                sendToClient(RealtimeEvent(type: "output_audio_buffer.started", fields: ["response_id": .string(tag)]))
                if let stoppedAt = speechStoppedAt {
                    // Turn latency: the caller's end of speech to the first answer packet sent.
                    speechStoppedAt = nil
                    let latency = now - stoppedAt
                    metrics.turnLatency.record(latency)
                    sendToClient(RealtimeEvent(type: "parley.turn_latency", fields: [
                        "response_id": .string(tag), "latency_ms": .number((latency.milliseconds * 10).rounded() / 10)]))
                }
            }
            let packet = try opusEncoder().encode(frame.samples)
            connection.sendAudio(packet, mediaTime: frame.mediaTime, marker: frame.marker, now: now)
            if playing != nil { playing?.frames += 1 }
            sent = true
        }
        if wasPlaying, !output.isPlaying, let finished = playing {
            playing = nil
            sendToClient(RealtimeEvent(type: "output_audio_buffer.stopped", fields: ["response_id": .string(finished.responseID)]))
            backend.outputStopped(responseID: finished.responseID)
        }
        return sent
    }

    // MARK: Events for the caller

    private func sendToClient(_ event: RealtimeEvent) {
        guard clientEvents.count < Self.clientEventLimit else {
            metrics.drop("client_event_queue_full")
            return
        }
        clientEvents.append(event)
    }

    /// Sends the events waiting for the caller once the `oai-events` channel is open.
    func flushClientEvents(now: Instant) {
        guard let channel = eventsChannel, !clientEvents.isEmpty else { return }
        for event in clientEvents {
            do {
                try connection.sendDataChannelMessage(.text(String(decoding: event.encodedJSON(), as: UTF8.self)), on: channel, now: now)
            } catch {
                metrics.drop("client_event_send_failed")
            }
        }
        clientEvents.removeAll()
    }

    /// Data channels (RFC 8831): `oai-events` carries Realtime events both ways; messages on
    /// other channels are counted and dropped.
    func handleDataChannelEvent(_ event: SCTPAssociation.Event, now: Instant) {
        switch event {
        case .channelOpened(let info) where info.label == Self.eventsChannelLabel:
            eventsChannel = info.streamID
            flushClientEvents(now: now)
        case .message(let stream, let message) where stream == eventsChannel:
            let bytes: [UInt8]
            switch message {
            case .text(let text): bytes = Array(text.utf8)
            case .binary(let data): bytes = data
            }
            do {
                backend.receiveClientEvent(try RealtimeEvent(json: bytes))
            } catch {
                metrics.drop("client_event_malformed")
                sendToClient(.error(code: "invalid_event", message: error.description))
            }
        case .message:
            metrics.drop("data_channel_unknown_channel")
        case .channelClosed(let stream) where stream == eventsChannel:
            eventsChannel = nil
        case .connected, .channelOpened, .channelClosed, .closed:
            break
        }
    }

    func nextDeadline() -> Instant? {
        connection.nextDeadline().earliest(connection.isMediaReady ? output.nextDeadline() : nil)
    }
}
