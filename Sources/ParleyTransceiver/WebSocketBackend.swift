import Logging
import NIOCore
import ParleyNIO
import ParleyAgent
import ParleyEndpoint
import ParleyWire
import Synchronization
import WSClient

/// A call's backend reached over a WebSocket, speaking Parley's backend protocol
/// (docs/backend-protocol.md, version 2; a version 1 backend works unchanged): Realtime
/// events as text frames, audio as binary frames with a 12-byte header and PCM16
/// little-endian samples at 24 kHz. The first message, `parley.call.started`, carries the
/// call's metadata; the edge's own events (`parley.call.connected`, `parley.link.stats`)
/// follow as they happen; the backend may end the call cleanly with `parley.call.end`.
///
/// The socket runs in its own task; what arrives is queued under a lock and `wake` asks the
/// media event loop to drain it, so the call's state stays on that loop.
final class WebSocketBackend: CallBackend, Sendable {
    /// Outbound frames wait here for the socket; a backend slower than real time loses the
    /// oldest audio beyond this many frames (counted) rather than growing without bound.
    static let outboundLimit = 500

    private enum Outbound: Sendable {
        case text(String)
        case binary([UInt8])
    }

    /// What the socket task and the event loop share.
    private final class Inbox: Sendable {
        struct State {
            var outputs = FIFO<BackendOutput>()
            var responseID: String?
            var closing = false
        }

        let state = Mutex(State())
    }

    private let inbox = Inbox()
    private let outbound: AsyncStream<Outbound>.Continuation
    private let task: Task<Void, Never>
    private let sequence = Atomic<UInt32>(0)

    /// `metadata` goes into `parley.call.started` as it is (who called: the credential's
    /// claims; where: cluster and shard).
    init(url: String, callID: SessionID, metadata: [String: JSONValue] = [:], logger: Logger, wake: @escaping @Sendable () -> Void) {
        let (stream, continuation) = AsyncStream<Outbound>.makeStream(bufferingPolicy: .bufferingNewest(Self.outboundLimit))
        outbound = continuation
        let inbox = inbox
        continuation.yield(.text(String(decoding: RealtimeEvent(type: "parley.call.started", fields: metadata.merging([
            "protocol": .string(BackendAudioFrame.protocolName),
            "call_id": .string(callID.rawValue),
            "audio": ["encoding": "pcm16", "sample_rate": 24_000, "channels": 1, "frame_ms": 20],
        ]) { _, fixed in fixed }).encodedJSON(), as: UTF8.self)))
        task = Task {
            let failure: String
            do {
                try await WebSocketClient.connect(url: url, logger: logger) { inbound, writer, _ in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await message in stream {
                                switch message {
                                case .text(let text): try await writer.write(.text(text))
                                case .binary(let bytes): try await writer.write(.binary(ByteBuffer(bytes: bytes)))
                                }
                            }
                        }
                        for try await message in inbound.messages(maxSize: 1 << 20) {
                            let output: BackendOutput?
                            switch message {
                            case .text(let text): output = Self.output(forText: text, inbox: inbox)
                            case .binary(let buffer): output = Self.output(forAudio: buffer, inbox: inbox)
                            }
                            if let output {
                                inbox.state.withLock { $0.outputs.append(output) }
                                wake()
                            }
                        }
                        group.cancelAll()
                    }
                }
                failure = "the backend closed the connection"
            } catch {
                failure = "the backend at \(url) could not be reached or failed: \(error)"
            }
            let report = inbox.state.withLock { state -> Bool in
                guard !state.closing else { return false }
                state.outputs.append(.failed(reason: failure))
                return true
            }
            if report { wake() }
        }
    }

    private static func output(forText text: String, inbox: Inbox) -> BackendOutput? {
        guard let event = try? RealtimeEvent(json: Array(text.utf8)) else {
            return .event(.error(code: "backend_protocol", message: "the backend sent a text frame that is not a Realtime event"))
        }
        switch event.type {
        case "output_audio_buffer.clear", "response.cancel":
            return .clearOutput
        case "parley.call.end":
            return .endCall(reason: event["reason"]?.stringValue)
        case "response.created":
            inbox.state.withLock { $0.responseID = event["response"]?["id"]?.stringValue }
            return .event(event)
        default:
            return .event(event)
        }
    }

    private static func output(forAudio buffer: ByteBuffer, inbox: Inbox) -> BackendOutput? {
        guard let frame = BackendAudioFrame(bytes: Array(buffer.readableBytesView)) else {
            return .event(.error(code: "backend_protocol", message: "the backend sent a binary frame that is not a version 1 audio frame"))
        }
        return .audio(frame.samples, responseID: inbox.state.withLock { $0.responseID })
    }

    func receiveAudio(_ frame: [Int16], mediaTime: UInt32) {
        let number = sequence.wrappingAdd(1, ordering: .relaxed).newValue
        outbound.yield(.binary(BackendAudioFrame(sequence: number, mediaTime: mediaTime, samples: frame).encoded()))
    }

    func receiveClientEvent(_ event: RealtimeEvent) {
        send(event)
    }

    func outputStopped(responseID: String?) {
        send(RealtimeEvent(type: "output_audio_buffer.stopped", fields: responseID.map { ["response_id": .string($0)] } ?? [:]))
    }

    func outputCleared(responseID: String?, playedMilliseconds: Int) {
        var fields: [String: JSONValue] = ["played_ms": .number(Double(playedMilliseconds))]
        if let responseID { fields["response_id"] = .string(responseID) }
        send(RealtimeEvent(type: "output_audio_buffer.cleared", fields: fields))
    }

    func receiveEdgeEvent(_ event: RealtimeEvent) {
        send(event)
    }

    func pollOutput() -> BackendOutput? {
        inbox.state.withLock { $0.outputs.popFirst() }
    }

    func close() {
        inbox.state.withLock { $0.closing = true }
        send(RealtimeEvent(type: "parley.call.ended"))
        outbound.finish()
    }

    private func send(_ event: RealtimeEvent) {
        outbound.yield(.text(String(decoding: event.encodedJSON(), as: UTF8.self)))
    }
}
