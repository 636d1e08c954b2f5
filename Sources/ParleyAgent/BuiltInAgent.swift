import ParleyWire
/// The embedded voice agent that lets Parley converse with no external service: it detects
/// the caller's turns with `VoiceActivityDetector` (or takes the turns the client commits),
/// answers each finished utterance by speaking it back, and yields the floor at once when
/// the caller barges in. It honours the session's `turn_detection`, `tools` and
/// `tool_choice` and answers the Realtime API's client events (`input_audio_buffer.*`,
/// `conversation.item.create`, `response.create`, `response.cancel`, ...); the rules for what
/// a response is are on `handleClientEvent(_:)`.
///
/// Sans-IO: the transceiver feeds decoded 20 ms frames and client events, and drains
/// actions: events for the client, audio frames for the paced output, and clears. Time is
/// the count of frames fed.
public struct BuiltInAgent: Sendable {
    public enum Action: Sendable, Equatable {
        case send(RealtimeEvent)
        /// A 20 ms frame of the response `responseID`, to queue for paced playback.
        case play([Int16], responseID: String)
        /// Drop all queued output now (barge-in, `response.cancel`, `output_audio_buffer.clear`).
        case clearOutput
    }

    /// Longest utterance kept: longer speech is answered with its first 30 s.
    public static let maxUtterance: Duration = .seconds(30)
    /// Least audio `input_audio_buffer.commit` takes, as in the Realtime API.
    public static let minimumCommit: Duration = .milliseconds(100)

    public internal(set) var detector: VoiceActivityDetector
    /// The session's `turn_detection` as the agent applies it.
    public internal(set) var turnDetection: TurnDetection
    /// The items the client was told of, for `previous_item_id` and the tool rules.
    public internal(set) var conversation = RealtimeConversation()
    /// `turn_detection` as last seen at each of its two places in a `session.update`.
    var seenTurnDetection: [String: JSONValue] = [:]
    /// Frames heard between turns, for the prefix padding (VAD only).
    var recentFrames: [[Int16]] = []
    /// The input audio buffer: the turn being heard (VAD), or all audio since the last commit
    /// or clear (manual turns).
    var utterance: [[Int16]] = []
    private var itemID: String?
    /// Frames fed since the start: the input audio's clock.
    private var framesHeard = 0
    /// Frames of quiet, with no answer playing, towards `idle_timeout_ms`.
    var idleFrames = 0
    /// The latest committed user audio not yet spoken back.
    var unansweredAudio: [[Int16]]?
    /// The audio response being played, until `outputFinished`, a cancel or a barge-in.
    var playing: PlayingResponse?
    /// The session's `tools` and `tool_choice`.
    var tools: [JSONValue] = []
    var toolChoice: JSONValue = "auto"
    /// `conversation_id` of responses that write to the conversation.
    let conversationID = "conv_parley"
    private var counter = 0
    var actions = FIFO<Action>()

    public init(turnDetection: VoiceActivityDetector.Configuration = .init(), frameDuration: Duration = .milliseconds(20)) {
        detector = VoiceActivityDetector(configuration: turnDetection, frameDuration: frameDuration)
        self.turnDetection = TurnDetection(vad: turnDetection)
    }

    /// The audio response being played, if any: active from `response.created` until
    /// `outputFinished(responseID:)`, a cancel or a barge-in. A function call is never active.
    public var activeResponseID: String? { playing?.id }

    /// Feeds one decoded frame of the caller's audio.
    public mutating func handleAudio(_ frame: [Int16]) {
        framesHeard += 1
        if turnDetection.isManual { return buffer(frame) }
        let event = detector.process(frame)
        if detector.isSpeaking || event != nil {
            buffer(frame)
        } else {
            recentFrames.append(frame)
            if recentFrames.count > prefixFrames { recentFrames.removeFirst(recentFrames.count - prefixFrames) }
        }
        switch event {
        case .speechStarted(let start)?:
            if playing != nil, turnDetection.interruptResponse {
                // Barge-in: the caller takes the floor; nothing more of the answer is played.
                actions.append(.clearOutput)
                cancelResponse(reason: "turn_detected")
            }
            let item = nextID("item")
            itemID = item
            utterance = recentFrames + utterance
            recentFrames.removeAll()
            actions.append(.send(RealtimeEvent(type: "input_audio_buffer.speech_started", fields: [
                "audio_start_ms": .number(start.milliseconds.rounded()), "item_id": .string(item)])))
        case .speechStopped(let end)?:
            let item = itemID ?? nextID("item")
            actions.append(.send(RealtimeEvent(type: "input_audio_buffer.speech_stopped", fields: [
                "audio_end_ms": .number(end.milliseconds.rounded()), "item_id": .string(item)])))
            commitUserAudio(item, frames: utterance, announce: false)
            // Without interrupt_response a turn can end while an answer still plays: it is
            // committed, and not answered over the answer.
            if turnDetection.createResponse, playing == nil { respond() }
            utterance.removeAll()
            itemID = nil
        case nil:
            break
        }
        countIdleFrame()
    }

    /// `idle_timeout_ms`: when the caller has been quiet this long since the last answer
    /// finished playing (or since listening began), `input_audio_buffer.timeout_triggered`
    /// names the quiet span, which is committed as an empty user item and, with
    /// `create_response`, answered.
    private mutating func countIdleFrame() {
        guard let timeout = turnDetection.effectiveIdleTimeout, !detector.isSpeaking, playing == nil else {
            idleFrames = 0
            return
        }
        idleFrames += 1
        guard detector.frameDuration * idleFrames >= timeout else { return }
        let end = detector.frameDuration * framesHeard
        let start = end - detector.frameDuration * idleFrames
        idleFrames = 0
        let item = nextID("item")
        actions.append(.send(RealtimeEvent(type: "input_audio_buffer.timeout_triggered", fields: [
            "audio_start_ms": .number(start.milliseconds.rounded()), "audio_end_ms": .number(end.milliseconds.rounded()),
            "item_id": .string(item)])))
        recentFrames.removeAll()
        commitUserAudio(item, frames: [], announce: false)
        if turnDetection.createResponse { respond() }
    }

    /// Frames kept between turns: the padding before the onset, plus the onset frames heard
    /// before speech was declared.
    var prefixFrames: Int {
        Int(detector.configuration.prefixPadding.nanosecondsRounded / detector.frameDuration.nanosecondsRounded)
            + VoiceActivityDetector.onsetFrames - 1
    }

    /// Adds a frame to the input audio buffer, which keeps its first `maxUtterance`.
    private mutating func buffer(_ frame: [Int16]) {
        guard detector.frameDuration * (utterance.count + 1) <= Self.maxUtterance else { return }
        utterance.append(frame)
    }

    /// Handles an event from the client (the `oai-events` channel): `session.update`,
    /// `input_audio_buffer.commit` and `.clear`, `conversation.item.create`, `response.create`,
    /// `response.cancel` and `output_audio_buffer.clear`; others get an `error`
    /// (`unsupported_event`).
    ///
    /// What a response is, whether `response.create` or a turn asked for it:
    /// - A function call, when the `tool_choice` in force (the response's, else the
    ///   session's) names a function `{"type":"function","name":N}` among the `tools` in force
    ///   (the response's, else the session's), or is `"required"` and there is a function tool
    ///   (the first is called), and the latest item of the conversation (of the response's
    ///   `input`, when it has one) is not a `function_call_output`. Its arguments are `{}`:
    ///   the agent has no model to fill them in.
    /// - Otherwise audio: the latest committed user audio not yet spoken back, or, when there
    ///   is none, a 300 ms soft tone. It is active until played, cancelled or interrupted, and
    ///   another `response.create` meanwhile gets `conversation_already_has_active_response`
    ///   (except an out-of-band function call, `conversation: "none"`, which writes nothing to
    ///   the conversation and plays nothing).
    public mutating func handleClientEvent(_ event: RealtimeEvent) {
        switch event.type {
        case "session.update":
            applySessionUpdate(event)
        case "response.create":
            createResponse(event)
        case "response.cancel":
            cancelResponse(event)
        case "output_audio_buffer.clear":
            guard playing != nil else { return }
            actions.append(.clearOutput)
            cancelResponse(reason: "client_cancelled")
        case "conversation.item.create":
            createItem(event)
        case "input_audio_buffer.commit":
            commitBuffer(event)
        case "input_audio_buffer.clear":
            utterance.removeAll()
            recentFrames.removeAll()
            actions.append(.send(RealtimeEvent(type: "input_audio_buffer.cleared")))
        default:
            actions.append(.send(.error(
                code: "unsupported_event", message: "the built-in agent does not handle \"\(event.type)\"",
                eventID: event["event_id"]?.stringValue)))
        }
    }

    /// The transceiver played the last queued frame of `responseID`.
    public mutating func outputFinished(responseID: String) {
        guard playing?.id == responseID else { return }
        playing = nil
    }

    /// The next action, in order; call until nil after each `handle...` call.
    public mutating func pollAction() -> Action? {
        actions.popFirst()
    }

    /// `input_audio_buffer.commit`, in any turn-detection mode: the buffer (in VAD mode, the
    /// turn being heard, or between turns the prefix padding's worth) becomes a user item,
    /// announced with `conversation.item.added`/`done`; it is not answered.
    private mutating func commitBuffer(_ event: RealtimeEvent) {
        let takesTurn = turnDetection.isManual || detector.isSpeaking
        let frames = takesTurn ? utterance : recentFrames
        let duration = detector.frameDuration * frames.count
        guard duration >= Self.minimumCommit else {
            let heard = (duration.milliseconds * 100).rounded() / 100
            actions.append(.send(.error(
                code: "input_audio_buffer_commit_empty",
                message: "Error committing input audio buffer: buffer too small. Expected at least \(Int(Self.minimumCommit.milliseconds))ms of audio, but buffer only has \(heard)ms of audio.",
                eventID: event["event_id"]?.stringValue)))
            return
        }
        // Mid-turn, the item is the one speech_started named; the rest of the turn gets another.
        let item = (takesTurn ? itemID : nil) ?? nextID("item")
        if takesTurn {
            utterance.removeAll()
            itemID = nil
        } else {
            recentFrames.removeAll()
        }
        commitUserAudio(item, frames: frames, announce: true)
    }

    /// `input_audio_buffer.committed` for the caller's audio as the user message `item`, then,
    /// when `announce`, the item's `conversation.item.added` and `conversation.item.done`.
    /// The audio is what the next audio response speaks back.
    private mutating func commitUserAudio(_ item: String, frames: [[Int16]], announce: Bool) {
        if !frames.isEmpty { unansweredAudio = frames }
        let message: [String: JSONValue] = [
            "id": .string(item), "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
            "content": [["type": "input_audio", "transcript": .null]],
        ]
        // Ids the agent makes are unique, so the insertion cannot be refused.
        let previous = try? conversation.insert(message)
        actions.append(.send(RealtimeEvent(type: "input_audio_buffer.committed", fields: [
            "item_id": .string(item), "previous_item_id": previous.map(JSONValue.string) ?? .null])))
        if announce { announceItem(.object(message), previous: previous) }
    }

    /// `conversation.item.create`: the item is checked, given an id when it has none, inserted
    /// and echoed with `conversation.item.added` and `conversation.item.done`.
    private mutating func createItem(_ event: RealtimeEvent) {
        do throws(ClientEventRefusal) {
            var item = try RealtimeConversation.checkedItem(event["item"])
            let after = event["previous_item_id"]
            if let after, after != .null, after.stringValue == nil {
                throw ClientEventRefusal(param: "previous_item_id", "previous_item_id must be a string")
            }
            if item["id"] == nil { item["id"] = .string(nextID("item")) }
            let previous = try conversation.insert(item, after: after?.stringValue)
            announceItem(.object(item), previous: previous)
        } catch {
            actions.append(.send(error.event(eventID: event["event_id"]?.stringValue)))
        }
    }

    mutating func announceItem(_ item: JSONValue, previous: String?) {
        for type in ["conversation.item.added", "conversation.item.done"] {
            actions.append(.send(RealtimeEvent(type: type, fields: [
                "item": item, "previous_item_id": previous.map(JSONValue.string) ?? .null])))
        }
    }

    mutating func send(_ event: RealtimeEvent) {
        actions.append(.send(event))
    }

    mutating func nextID(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)_\(counter)"
    }
}
