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
/// media event loop to drain it, so the call's state stays on that loop. What the call sends
/// waits in a `BackendSendQueue` (bounded in bytes; the oldest audio gives way, counted in
/// `parley_backend_send_dropped_total{kind}`). A backend that stops reading is found two
/// ways, whichever comes first: it answers no WebSocket ping within the stall timeout, or
/// nothing could be written to its socket for that long (when the ping itself cannot be
/// written). The call then gets `backend_unresponsive` and the socket is torn down.
final class WebSocketBackend: CallBackend, Sendable {
    private enum Outbound: Sendable {
        case text(String)
        case binary([UInt8])
    }

    /// The largest message (and frame) taken from a backend: a second of audio is 48,012
    /// bytes, and the WebSocket client's own default frame limit (16 KiB) would refuse it.
    static let maxMessageBytes = 1 << 20

    /// The socket took nothing for the stall timeout.
    private struct Unresponsive: Error {}

    /// What the socket task and the event loop share.
    private final class Inbox: Sendable {
        struct State {
            var outputs = FIFO<BackendOutput>()
            var responseID: String?
            var closing = false
            /// Set once a failure was handed to the call: it is reported once.
            var reportedFailure = false
            /// Set when the connection ended on our side: a ping went unanswered.
            var missedPing = false
        }

        let state = Mutex(State())

        /// Hands the call `failure` unless it is closing or was already told; true when handed.
        func report(_ failure: BackendOutput) -> Bool {
            state.withLock { state in
                guard !state.closing, !state.reportedFailure else { return false }
                state.reportedFailure = true
                state.outputs.append(failure)
                return true
            }
        }
    }

    /// What the call sends, shared with the socket task's writer and watch.
    private final class Outbox: Sendable {
        let queue: Mutex<BackendSendQueue<Outbound>>

        init(limits: BackendSendQueue<Outbound>.Limits) {
            queue = Mutex(BackendSendQueue(limits: limits))
        }
    }

    private let inbox = Inbox()
    private let outbox: Outbox
    /// Rung after every push and at the end, so the writer wakes.
    private let doorbell: AsyncStream<Void>.Continuation
    private let metrics: TransceiverMetrics
    private let task: Task<Void, Never>
    private let sequence = Atomic<UInt32>(0)

    /// `metadata` goes into `parley.call.started` as it is (who called: the credential's
    /// claims; where: cluster and shard).
    init(url: String, callID: SessionID, metadata: [String: JSONValue] = [:], limits: BackendLimits,
         metrics: TransceiverMetrics, logger: Logger, wake: @escaping @Sendable () -> Void) {
        let (bell, doorbell) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        self.doorbell = doorbell
        self.metrics = metrics
        let outbox = Outbox(limits: .init(maxBytes: limits.sendQueueBytes, stallTimeout: limits.stallTimeout))
        self.outbox = outbox
        let inbox = inbox
        let started = String(decoding: RealtimeEvent(type: "parley.call.started", fields: metadata.merging([
            "protocol": .string(BackendAudioFrame.protocolName),
            "call_id": .string(callID.rawValue),
            "audio": ["encoding": "pcm16", "sample_rate": 24_000, "channels": 1, "frame_ms": 20],
        ]) { _, fixed in fixed }).encodedJSON(), as: UTF8.self)
        _ = outbox.queue.withLock { $0.push(.text(started), kind: .event, bytes: started.utf8.count, now: .now) }
        let stallTimeout = limits.stallTimeout
        task = Task {
            let failure: BackendOutput
            do {
                try await withThrowingTaskGroup(of: Void.self) { watched in
                    watched.addTask {
                        // A ping every half stall timeout; one still unanswered at the next closes
                        // the connection (RFC 6455 §5.5.2): a backend that stops reading is found
                        // within the stall timeout, however much the socket buffers hold.
                        let configuration = WebSocketClientConfiguration(
                            maxFrameSize: Self.maxMessageBytes, autoPing: .enabled(timePeriod: stallTimeout / 2))
                        try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { inbound, writer, _ in
                            let connectedAt = ContinuousClock.now
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                group.addTask { try await Self.write(outbox, bell: bell, to: writer) }
                                for try await message in inbound.messages(maxSize: Self.maxMessageBytes) {
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
                            // The backend's messages ended. If it closed its side, ours is still
                            // open; if ours is closed too, either our side ended the connection
                            // because a ping went unanswered, or the backend vanished (killed,
                            // reset) and took the connection down. The first needs a whole ping
                            // period unanswered after one ping period, so it cannot happen
                            // sooner than the stall timeout after connecting. (An unsolicited
                            // pong is a valid heartbeat, §5.5.3.)
                            do {
                                try await writer.write(.pong)
                            } catch {
                                if ContinuousClock.now - connectedAt >= stallTimeout {
                                    inbox.state.withLock { $0.missedPing = true }
                                }
                            }
                        }
                    }
                    watched.addTask {
                        try await Self.watch(outbox, stallTimeout: stallTimeout)
                        // The stall is reported at once; tearing the socket down may take longer.
                        if inbox.report(.unresponsive(reason:
                            "the backend at \(url) took nothing from its WebSocket for \(stallTimeout): it stopped reading")) {
                            logger.warning("backend unresponsive: ending the call", metadata: ["session": "\(callID)", "stall": "\(stallTimeout)"])
                            wake()
                        }
                        throw Unresponsive()
                    }
                    // The socket ended (or failed), or the watch found a stall: the other goes too.
                    try await watched.next()
                    watched.cancelAll()
                }
                if inbox.state.withLock({ $0.missedPing }) {
                    failure = .unresponsive(reason: "the backend at \(url) answered no WebSocket ping for \(stallTimeout): it stopped reading")
                    logger.warning("backend unresponsive: ending the call", metadata: ["session": "\(callID)", "ping": "\(stallTimeout / 2)"])
                } else {
                    failure = .failed(reason: "the backend closed the connection")
                }
            } catch {
                failure = .failed(reason: "the backend at \(url) could not be reached or failed: \(error)")
            }
            if inbox.report(failure) { wake() }
        }
    }

    /// Writes what the call queues, in order, until the queue is finished and empty; each
    /// completed write tells the queue the backend is still taking bytes.
    private static func write(_ outbox: Outbox, bell: AsyncStream<Void>,
                              to writer: WebSocketOutboundWriter) async throws {
        var rings = bell.makeAsyncIterator()
        while true {
            let (next, finished) = outbox.queue.withLock { ($0.pop(), $0.isFinished) }
            guard let next else {
                if finished { return }
                _ = await rings.next()
                continue
            }
            switch next {
            case .text(let text): try await writer.write(.text(text))
            case .binary(let bytes): try await writer.write(.binary(ByteBuffer(bytes: bytes)))
            }
            outbox.queue.withLock { $0.wrote(now: .now) }
        }
    }

    /// Returns once the queue has stalled: something waited the stall timeout with no write
    /// completing. Looks ten times per timeout (at least every 50 ms, at most every second).
    private static func watch(_ outbox: Outbox, stallTimeout: Duration) async throws {
        let interval = min(max(stallTimeout / 10, .milliseconds(50)), .seconds(1))
        while true {
            try await Task.sleep(for: interval)
            if outbox.queue.withLock({ $0.isStalled(now: .now) }) { return }
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
        let bytes = BackendAudioFrame(sequence: number, mediaTime: mediaTime, samples: frame).encoded()
        enqueue(.binary(bytes), kind: .audio, bytes: bytes.count)
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
        outbox.queue.withLock { $0.finish() }
        doorbell.yield()
    }

    private func send(_ event: RealtimeEvent) {
        let text = String(decoding: event.encodedJSON(), as: UTF8.self)
        enqueue(.text(text), kind: .event, bytes: text.utf8.count)
    }

    private func enqueue(_ message: Outbound, kind: BackendSendQueue<Outbound>.Kind, bytes: Int) {
        let drops = outbox.queue.withLock { $0.push(message, kind: kind, bytes: bytes, now: .now) }
        if drops.audioFrames > 0 { metrics.backendSendDropped("audio", count: drops.audioFrames) }
        if drops.events > 0 { metrics.backendSendDropped("event", count: drops.events) }
        doorbell.yield()
    }
}
