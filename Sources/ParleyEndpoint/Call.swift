import ParleyAgent
import ParleyWebRTC
import ParleyWire

/// One call on the server side, sans-IO: the `PeerConnection` (ICE-lite, DTLS-SRTP, RTP/RTCP,
/// data channels), the Opus codec pair, the paced output of what the backend says, the
/// backend itself and the Realtime events waiting for the caller.
///
/// Its `TransceiverEndpoint` routes datagrams to it, drives it after every input, drains its
/// transmits (adding the relay header where its path came through a relay) and keeps its
/// deadline. Nothing here reads a clock or touches a socket.
final class Call: DeadlineHeapElement {
    /// What a call reports to its endpoint, which tags it with the call's id.
    enum Event: Equatable {
        case iceConnected(after: Duration)
        /// `embeddedInSTUN`: SPED carried the handshake (`DTLSInSTUN`).
        case dtlsConnected(after: Duration, embeddedInSTUN: Bool)
        case firstAudio(after: Duration)
        /// The caller's end of speech (as detected) to the first answer packet sent.
        case turnLatency(Duration)
        case dropped(TransceiverEndpoint.DropReason)
        case audioRepaired(TransceiverEndpoint.AudioRepair, frames: Int)
        /// A server event the caller was sent, for the sidebands watching the call.
        case serverEvent(RealtimeEvent)
    }

    /// 20 ms at the 24 kHz rate Parley decodes and encodes at.
    static let samplesPerFrame = 480
    static let sampleRate: Int32 = 24_000
    /// Events for the caller wait here until the data channel takes them.
    static let clientEventLimit = 256
    /// A response whose audio ran out, from a backend that never says it is complete, stops
    /// after this long without more.
    static let underrunGrace: Duration = .seconds(2)
    /// Cancelled response ids remembered.
    static let cancelledResponseLimit = 16
    /// The data channel of the Realtime API's WebRTC calls.
    static let eventsChannelLabel = "oai-events"
    /// `parley_sessions_ended_total`'s reason for a call that reached its time limit.
    static let timeLimitReason = "time_limit"
    /// ... and for one the backend ended with `parley.call.end`.
    static let backendEndedReason = "backend_ended"
    /// ... and for one still live when a draining transceiver's deadline passed.
    static let drainDeadlineReason = "drain_deadline"
    /// How often the backend gets `parley.link.stats` while media flows.
    static let linkStatisticsInterval: Duration = .seconds(5)

    let id: SessionID
    let serverUfrag: String
    let connection: PeerConnection
    let backend: any CallBackend
    let createdAt: Instant
    private let mediaMode: TransceiverEndpoint.MediaMode
    private let encoderComplexity: Int32
    /// Made on first use: idle calls and the packet echo never need them (about 40 KiB).
    /// The receiver is the inbound jitter/reorder buffer in front of the Opus decoder.
    private var receiver: AudioReceiver?
    private var encoder: OpusEncoder?
    /// The receiver's counters already reported as events.
    private var reportedReceiverDrops = AudioJitterBuffer.Counters()
    private var reportedDecodeFailures: UInt64 = 0
    private var output: PacedAudioOutput
    /// The output's dropped frames already reported as events.
    private var reportedPlayoutDrops: UInt64 = 0
    private var inputMediaTime: UInt32 = 0
    private var outputSamples: [Int16] = []
    private var outputTag: String?
    private var firstEchoTimestamp: UInt32?
    /// The response being played and how many of its frames went out, across underruns.
    private var playing: (responseID: String, frames: Int)?
    /// The latest response whose audio the backend said is complete (`response.done` or
    /// `response.output_audio.done`): it stops once its queued audio has played.
    private var completedResponse: String?
    /// When the playing response's queued audio ran out before it was complete.
    private var starvedSince: Instant?
    /// Responses the caller cancelled or cleared: their audio is dropped if it still comes.
    private var cancelledResponses: [String] = []
    private var speechStoppedAt: Instant?
    private var clientEvents: [RealtimeEvent] = []
    /// The Realtime session as the caller sees it: defaults, the caller's accepted updates
    /// and what the backend reported.
    private var session: RealtimeSession
    /// Server events sent so far, for their `event_id`s.
    private var eventsSent = 0
    private var sentSessionCreated = false
    /// The stream of the `oai-events` data channel once the caller opened it.
    private var eventsChannel: UInt16?
    /// How the backend failed (the caller's error code, also the call's end reason), once it
    /// has; the call then ends.
    private var backendFailure: (code: String, reason: String)?
    private var firstAudioSentAt: Instant?
    private var events = FIFO<Event>()
    /// When the call ends whatever happens: the limit of the client secret it was made with.
    private let endsAt: Instant?
    private var reachedTimeLimit = false
    /// Set when the transceiver's drain deadline cut the call.
    private var cutAtDrainDeadline = false
    /// Sidebands watching the call: while any is, every server event is also reported.
    private var sidebands = 0
    /// Set once the backend asked to end the call: it closes when its audio has played.
    private var backendEnded = false
    private var nextLinkStatistics: Instant?
    /// Why the connection closed, as `parley_sessions_ended_total` names it.
    private(set) var endReason: String?

    /// Paths that passed an ICE check (RFC 8445 peer-reflexive candidates), the one the
    /// client's latest accepted packet came on last. The session table indexes them; sending
    /// looks up the relay of a destination here.
    var paths: [MediaPath] = []
    /// Set while the endpoint has this call queued for transmits.
    var isQueuedForOutput = false
    var heapSlot: DeadlineSlot?

    init(id: SessionID, serverUfrag: String, connection: PeerConnection, backend: any CallBackend,
         mediaMode: TransceiverEndpoint.MediaMode, encoderComplexity: Int32, createdAt: Instant,
         maxDuration: Duration? = nil, playoutCapacity: Int = PacedAudioOutput.defaultCapacity) {
        output = PacedAudioOutput(capacity: playoutCapacity)
        endsAt = maxDuration.map { createdAt + $0 }
        self.id = id
        self.serverUfrag = serverUfrag
        self.connection = connection
        self.backend = backend
        self.mediaMode = mediaMode
        self.encoderComplexity = encoderComplexity
        self.createdAt = createdAt
        session = RealtimeSession(id: "sess_" + id.rawValue.dropFirst("rtc_".count))
    }

    var isClosed: Bool { connection.isClosed }

    func pollEvent() -> Event? {
        events.popFirst()
    }

    /// The path to `destination` the client used last: through which relay (nil when
    /// direct) and over which transport its latest accepted packet came.
    func path(toward destination: PeerAddress) -> MediaPath? {
        paths.last { $0.client == destination }
    }

    func nextDeadline() -> Instant? {
        connection.nextDeadline()
            .earliest(connection.isMediaReady ? output.nextDeadline() : nil)
            .earliest(receiver?.nextDeadline())
            .earliest(starvedSince.map { $0 + Self.underrunGrace })
            .earliest(endsAt)
            .earliest(nextLinkStatistics)
    }

    // MARK: Input

    /// A datagram (not a STUN request: those are routed by ufrag first) from `client`; true
    /// when the connection accepted it.
    func handle(_ datagram: [UInt8], from client: PeerAddress, now: Instant) -> Bool {
        let verdict = connection.handle(datagram, from: client, now: now)
        record(verdict)
        return verdict == .accepted
    }

    /// A STUN message the endpoint parsed; true when ICE accepted it.
    func handle(_ message: STUNMessage, from client: PeerAddress, now: Instant) -> Bool {
        let verdict = connection.handle(message, from: client, now: now)
        record(verdict)
        return verdict == .accepted
    }

    func handleTimeout(now: Instant) {
        if let endsAt, now >= endsAt, !reachedTimeLimit, !connection.isClosed {
            // Told first, so the caller knows why the call closes.
            reachedTimeLimit = true
            sendToClient(.error(code: "call_time_limit", message: "the call reached the time limit of the client secret it was made with"))
            flushClientEvents(now: now)
            connection.close(now: now)
        }
        connection.handleTimeout(now: now)
    }

    /// `parley.link.stats` for the backend: RTT from the caller's RTCP reports, loss and
    /// jitter of the caller's audio as received, loss the caller reported of ours.
    private func reportLinkStatistics(now: Instant) {
        nextLinkStatistics = now + Self.linkStatisticsInterval
        let statistics = connection.statistics
        var fields: [String: JSONValue] = [
            "packets_sent": .number(Double(statistics.rtpPacketsSent)),
            "remote_packets_lost": .number(Double(statistics.remoteCumulativeLost)),
        ]
        if let rtt = statistics.roundTripTime { fields["rtt_ms"] = .number((rtt.milliseconds * 10).rounded() / 10) }
        if let receive = statistics.receive {
            fields["packets_received"] = .number(Double(receive.packetsReceived))
            fields["packets_lost"] = .number(Double(max(0, receive.cumulativeLost)))
            fields["jitter_ms"] = .number((receive.jitterDuration.milliseconds * 10).rounded() / 10)
        }
        backend.receiveEdgeEvent(RealtimeEvent(type: "parley.link.stats", fields: fields))
    }

    // MARK: Sidebands

    /// A sideband joined: from now on every server event is also reported. Returns the
    /// `session.created` it starts with (the session as it stands, as a fresh Realtime
    /// connection would see first).
    func attachSideband() -> RealtimeEvent {
        sidebands += 1
        var created = session.createdEvent
        created["event_id"] = .string(nextEventID())
        return created
    }

    func detachSideband() {
        sidebands = max(0, sidebands - 1)
    }

    func close(now: Instant) {
        connection.close(now: now)
    }

    /// Ends the call because the transceiver is stopping and its drain deadline passed; the
    /// caller is told why first, and the end is counted as `drain_deadline`.
    func endAtDrainDeadline(now: Instant) {
        guard !connection.isClosed else { return }
        cutAtDrainDeadline = true
        sendToClient(.error(code: "server_shutting_down", message: "the server is shutting down and the call outlasted its drain time"))
        flushClientEvents(now: now)
        connection.close(now: now)
    }

    private func record(_ verdict: PeerConnection.Verdict) {
        if case .dropped(let reason) = verdict { events.append(.dropped(.init(reason))) }
    }

    // MARK: Driving

    /// Runs everything an input may have set off: connection events, backend output, events
    /// for the caller, due audio; until nothing moves. Transmits stay queued in the
    /// connection for the endpoint to drain.
    func drive(now: Instant) {
        var progressed = true
        while progressed {
            progressed = false
            while let event = connection.pollEvent() {
                progressed = true
                handle(event, now: now)
            }
            if playReceivedAudio(now: now) { progressed = true }
            if pumpBackend(now: now) { progressed = true }
            flushClientEvents(now: now)
            if backendFailure != nil, !connection.isClosed {
                connection.close(now: now)
                progressed = true
            }
            if backendEnded, !connection.isClosed, playing == nil, output.queuedFrames == 0, outputSamples.isEmpty {
                flushClientEvents(now: now)
                connection.close(now: now)
                progressed = true
            }
            if let due = nextLinkStatistics, now >= due { reportLinkStatistics(now: now) }
            if connection.isMediaReady, sendDueAudio(now: now) { progressed = true }
        }
        if connection.isClosed { backend.close() }
    }

    private func handle(_ event: PeerConnection.Event, now: Instant) {
        switch event {
        case .iceConnected(let address):
            events.append(.iceConnected(after: now - createdAt))
            backend.receiveEdgeEvent(RealtimeEvent(type: "parley.call.connected", fields: [
                "address_family": .string(address.ip.isIPv4 ? "ipv4" : "ipv6"),
                "via_relay": .bool(path(toward: address)?.relay != nil),
                "transport": .string(path(toward: address)?.transport.description ?? "udp"),
            ]))
        case .dtlsConnected:
            let sped = connection.dtlsInSTUNState
            events.append(.dtlsConnected(after: now - createdAt, embeddedInSTUN: sped != nil && sped != .off))
            nextLinkStatistics = now + Self.linkStatisticsInterval
        case .audio(let audio):
            switch mediaMode {
            case .packetEcho:
                echoPacket(audio, now: now)
                noteFirstAudio(now: now)
            case .decoded:
                receiveAudio(audio, now: now)
            }
        case .telephoneEvent(let event):
            guard let key = event.key else { return }
            backend.receiveEdgeEvent(RealtimeEvent(type: "parley.dtmf", fields: [
                "key": .string(key), "duration_ms": .number(Double(event.duration) / 48),
            ]))
        case .dataChannel(let event):
            handleDataChannelEvent(event, now: now)
        case .dataChannelDropped(let reason):
            events.append(.dropped(.init(reason)))
        case .closed(let reason):
            endReason = backendFailure?.code
                ?? (reachedTimeLimit ? Self.timeLimitReason
                : cutAtDrainDeadline ? Self.drainDeadlineReason
                : backendEnded ? Self.backendEndedReason
                : reason.rawValue)
            nextLinkStatistics = nil
        }
    }

    private func noteFirstAudio(now: Instant) {
        guard firstAudioSentAt == nil else { return }
        firstAudioSentAt = now
        events.append(.firstAudio(after: now - createdAt))
    }

    // MARK: Caller audio in

    private func opusEncoder() throws(OpusError) -> OpusEncoder {
        if let encoder { return encoder }
        let made = try OpusEncoder(sampleRate: Self.sampleRate, channels: 1, complexity: encoderComplexity)
        encoder = made
        return made
    }

    /// Where every received audio packet of the call goes: into the jitter/reorder buffer
    /// (RFC 3550 sequence handling), which plays it in order at its slot.
    private func receiveAudio(_ audio: PeerConnection.ReceivedAudio, now: Instant) {
        if receiver == nil {
            do {
                receiver = try AudioReceiver(sampleRate: Self.sampleRate)
            } catch {
                return events.append(.dropped(.opusDecode))
            }
        }
        receiver?.insert(audio, now: now)
        reportReceiverDrops()
    }

    /// Hands the backend every 20 ms frame the jitter buffer has due (decoded, rebuilt from
    /// the next packet's in-band FEC, or concealed). Returns true when a frame went.
    private func playReceivedAudio(now: Instant) -> Bool {
        guard let receiver else { return false }
        var played = false
        while let frame = receiver.pollFrame(now: now) {
            backend.receiveAudio(frame, mediaTime: inputMediaTime)
            inputMediaTime &+= UInt32(Self.samplesPerFrame)
            played = true
        }
        reportReceiverDrops()
        return played
    }

    /// Reports packets the jitter buffer discarded since the last report, one event each,
    /// under the reasons `parley_packets_dropped_total` counts them by, and the frames it
    /// rebuilt from FEC or concealed.
    private func reportReceiverDrops() {
        guard let receiver else { return }
        let counters = receiver.counters
        for (total, reported, reason) in [
            (counters.late, reportedReceiverDrops.late, TransceiverEndpoint.DropReason.late),
            (counters.duplicate, reportedReceiverDrops.duplicate, .duplicate),
            (counters.overflow, reportedReceiverDrops.overflow, .jitterBufferOverflow),
            (counters.sequenceJump, reportedReceiverDrops.sequenceJump, .sequenceJump),
            (counters.flushed, reportedReceiverDrops.flushed, .jitterBufferFlushed),
            (receiver.decodeFailures, reportedDecodeFailures, .opusDecode),
        ] where total > reported {
            for _ in 0..<Int(total - reported) { events.append(.dropped(reason)) }
        }
        for (total, reported, repair) in [
            (counters.fecRecovered, reportedReceiverDrops.fecRecovered, TransceiverEndpoint.AudioRepair.inBandFEC),
            (counters.concealed, reportedReceiverDrops.concealed, .concealment),
        ] where total > reported {
            events.append(.audioRepaired(repair, frames: Int(total - reported)))
        }
        reportedReceiverDrops = counters
        reportedDecodeFailures = receiver.decodeFailures
    }

    /// Sends a received Opus packet straight back, keeping the caller's timing: the
    /// transport-only echo (`--backend packet-echo`).
    private func echoPacket(_ audio: PeerConnection.ReceivedAudio, now: Instant) {
        let base = firstEchoTimestamp ?? audio.rtpTimestamp
        firstEchoTimestamp = base
        connection.sendAudio(audio.payload, mediaTime: audio.rtpTimestamp &- base, marker: false, now: now)
    }

    // MARK: Backend out

    /// Takes everything the backend produced. Returns true when something was taken.
    private func pumpBackend(now: Instant) -> Bool {
        var progressed = false
        while let item = backend.pollOutput() {
            progressed = true
            switch item {
            case .audio(_, let responseID?) where cancelledResponses.contains(responseID):
                continue
            case .audio(let samples, let responseID):
                queueOutput(samples, tag: responseID, now: now)
            case .event(let event) where event.type == "session.updated":
                // The backend's effective settings, merged: the caller gets the whole session.
                session.adopt(event["session"] ?? [:])
                sendToClient(session.updatedEvent)
            case .event(let event):
                if event.type == "input_audio_buffer.speech_stopped" { speechStoppedAt = now }
                if event.type == "response.done" || event.type == "response.output_audio.done",
                   let responseID = event["response"]?["id"]?.stringValue ?? event["response_id"]?.stringValue {
                    completeResponse(responseID, now: now)
                }
                sendToClient(event)
            case .clearOutput:
                clearOutput()
            case .endCall:
                backendEnded = true
            case .failed(let reason):
                failBackend(code: "backend_failed", reason)
            case .unresponsive(let reason):
                failBackend(code: "backend_unresponsive", reason)
            }
        }
        return progressed
    }

    /// The backend failed: the caller is told why, and the call ends.
    private func failBackend(code: String, _ reason: String) {
        // A backend that ended the call may close its socket: not a failure.
        guard backendFailure == nil, !backendEnded else { return }
        backendFailure = (code, reason)
        sendToClient(.error(code: code, message: reason))
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
        // A backend faster than real time by more than the output holds loses its oldest frames.
        while reportedPlayoutDrops < output.framesDropped {
            reportedPlayoutDrops += 1
            events.append(.dropped(.playoutOverflow))
        }
    }

    /// The backend's end-of-response marker: the last partial frame of `responseID` is
    /// padded out and queued, and the response stops once that has played.
    private func completeResponse(_ responseID: String, now: Instant) {
        completedResponse = responseID
        if outputTag == responseID, !outputSamples.isEmpty {
            outputSamples += [Int16](repeating: 0, count: Self.samplesPerFrame - outputSamples.count)
            output.enqueue(outputSamples, tag: outputTag, now: now)
            outputSamples.removeAll()
        }
    }

    /// The caller's `output_audio_buffer.clear`, or a `response.cancel` of what is queued or
    /// playing: enforced here, whatever the backend does with the event it also gets. The
    /// queue is dropped before the next frame is due, and later audio of the response is
    /// dropped on arrival.
    private func cancelOutput(_ event: RealtimeEvent) {
        let named = event["response_id"]?.stringValue
        let current = playing?.responseID ?? outputTag
        if event.type == "response.cancel", let named, named != current { return }
        if let cancelled = named ?? current {
            cancelledResponses.append(cancelled)
            if cancelledResponses.count > Self.cancelledResponseLimit { cancelledResponses.removeFirst() }
        }
        clearOutput()
    }

    /// Drops all queued output at once and reports how much of the response was played.
    private func clearOutput() {
        output.clear()
        outputSamples.removeAll()
        encoder?.reset()
        starvedSince = nil
        guard let current = playing else { return }
        playing = nil
        let playedMilliseconds = current.frames * 20
        sendToClient(RealtimeEvent(type: "output_audio_buffer.cleared", fields: [
            "response_id": .string(current.responseID), "played_ms": .number(Double(playedMilliseconds))]))
        backend.outputCleared(responseID: current.responseID, playedMilliseconds: playedMilliseconds)
    }

    /// Sends every output frame that is due, with playback events around responses: one
    /// `output_audio_buffer.started` and one `stopped` per response, however often its audio
    /// runs out on the way. Returns true when a frame went out or a response finished.
    private func sendDueAudio(now: Instant) -> Bool {
        var progressed = false
        while let frame = output.poll(now: now) {
            starvedSince = nil
            if let tag = frame.tag, playing?.responseID != tag {
                if playing != nil { stopResponse() }
                playing = (tag, 0)
                sendToClient(RealtimeEvent(type: "output_audio_buffer.started", fields: ["response_id": .string(tag)]))
                if let stoppedAt = speechStoppedAt {
                    speechStoppedAt = nil
                    let latency = now - stoppedAt
                    events.append(.turnLatency(latency))
                    sendToClient(RealtimeEvent(type: "parley.turn_latency", fields: [
                        "response_id": .string(tag), "latency_ms": .number((latency.milliseconds * 10).rounded() / 10)]))
                }
            }
            let packet: [UInt8]
            do {
                packet = try opusEncoder().encode(frame.samples)
            } catch {
                events.append(.dropped(.opusEncode))
                return progressed
            }
            connection.sendAudio(packet, mediaTime: frame.mediaTime, marker: frame.marker, now: now)
            if playing != nil { playing?.frames += 1 }
            noteFirstAudio(now: now)
            progressed = true
        }
        if let current = playing, !output.isPlaying {
            // The response's audio ran out: it is over if the backend said so, or when no more
            // came within the grace; otherwise this is an underrun and the response goes on.
            if completedResponse == current.responseID || starvedSince.map({ now - $0 >= Self.underrunGrace }) == true {
                stopResponse()
                progressed = true
            } else if starvedSince == nil {
                starvedSince = now
            }
        }
        return progressed
    }

    private func stopResponse() {
        guard let finished = playing else { return }
        playing = nil
        starvedSince = nil
        sendToClient(RealtimeEvent(type: "output_audio_buffer.stopped", fields: ["response_id": .string(finished.responseID)]))
        backend.outputStopped(responseID: finished.responseID)
    }

    // MARK: Events for the caller

    /// Queues an event for the caller until the `oai-events` channel takes it, with an
    /// `event_id` unique to the call when it has none (the SDKs' event schemas require one).
    /// Sidebands get each event as it is made, whether or not the caller's channel is open.
    private func sendToClient(_ event: RealtimeEvent) {
        var event = event
        if event["event_id"] == nil { event["event_id"] = .string(nextEventID()) }
        if sidebands > 0 { events.append(.serverEvent(event)) }
        guard clientEvents.count < Self.clientEventLimit else {
            events.append(.dropped(.clientEventQueueFull))
            return
        }
        clientEvents.append(event)
    }

    private func nextEventID() -> String {
        eventsSent += 1
        return "event_\(id.rawValue.dropFirst("rtc_".count))_\(eventsSent)"
    }

    /// A client event, from the caller or the offer's session settings. A `session.update`
    /// is checked and merged here and goes to the backend as the whole merged session; one
    /// with a bad field gets an `error` event naming it and goes no further.
    func receiveClientEvent(_ event: RealtimeEvent) {
        if event.type == "output_audio_buffer.clear" || event.type == "response.cancel" { cancelOutput(event) }
        guard event.type == "session.update" else { return backend.receiveClientEvent(event) }
        do {
            try session.apply(event["session"] ?? [:])
        } catch {
            return sendToClient(error.event(eventID: event["event_id"]?.stringValue))
        }
        var merged = event
        merged["session"] = session.value
        backend.receiveClientEvent(merged)
    }

    /// Sends the events waiting for the caller once the `oai-events` channel is open.
    private func flushClientEvents(now: Instant) {
        guard let channel = eventsChannel, !clientEvents.isEmpty else { return }
        for event in clientEvents {
            do {
                try connection.sendDataChannelMessage(.text(String(decoding: event.encodedJSON(), as: UTF8.self)), on: channel, now: now)
            } catch {
                events.append(.dropped(.clientEventSendFailed))
            }
        }
        clientEvents.removeAll()
    }

    /// Data channels (RFC 8831): `oai-events` carries Realtime events both ways; messages on
    /// other channels are counted and dropped.
    private func handleDataChannelEvent(_ event: SCTPAssociation.Event, now: Instant) {
        switch event {
        case .channelOpened(let info) where info.label == Self.eventsChannelLabel:
            eventsChannel = info.streamID
            if !sentSessionCreated {
                // The first event on the channel, before anything queued while it opened.
                sentSessionCreated = true
                var created = session.createdEvent
                created["event_id"] = .string(nextEventID())
                clientEvents.insert(created, at: 0)
            }
            flushClientEvents(now: now)
        case .message(let stream, let message) where stream == eventsChannel:
            let bytes: [UInt8]
            switch message {
            case .text(let text): bytes = Array(text.utf8)
            case .binary(let data): bytes = data
            }
            do {
                receiveClientEvent(try RealtimeEvent(json: bytes))
            } catch {
                events.append(.dropped(.clientEventMalformed))
                sendToClient(.error(code: "invalid_event", message: error.description))
            }
        case .message:
            events.append(.dropped(.dataChannelUnknownChannel))
        case .channelClosed(let stream) where stream == eventsChannel:
            eventsChannel = nil
        case .connected, .channelOpened, .channelClosed, .closed:
            break
        }
    }
}

/// How a client's datagrams reach the transceiver: through a relay (which wraps them with
/// the client's address) or directly, and whether the client reached the relay over UDP or
/// ICE-TCP (RFC 6544; the encapsulation's mark). Calls are keyed by all three, so two relays
/// may carry clients whose addresses collide, and a TCP client is never taken for a UDP one
/// with the same address and port.
struct MediaPath: Hashable {
    var relay: PeerAddress?
    var client: PeerAddress
    var transport: ClientTransport = .udp
}
