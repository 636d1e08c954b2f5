import ParleyWire
/// The embedded voice agent that lets Parley converse with no external service: it detects
/// the caller's turns with `VoiceActivityDetector`, answers each finished utterance by
/// speaking it back, and yields the floor at once when the caller barges in.
///
/// Sans-IO: the transceiver feeds decoded 20 ms frames and client events, and drains
/// actions: events for the client, audio frames for the paced output, and clears.
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

    public private(set) var detector: VoiceActivityDetector
    /// The items the client was told of, for `previous_item_id` and the tool rules.
    public private(set) var conversation = RealtimeConversation()
    private var recentFrames: [[Int16]] = []
    private var utterance: [[Int16]] = []
    private var itemID: String?
    private var respondingTo: String?
    private var counter = 0
    private var actions = FIFO<Action>()

    public init(turnDetection: VoiceActivityDetector.Configuration = .init(), frameDuration: Duration = .milliseconds(20)) {
        detector = VoiceActivityDetector(configuration: turnDetection, frameDuration: frameDuration)
    }

    /// The response whose audio is being played, if any.
    public var activeResponseID: String? { respondingTo }

    /// Feeds one decoded frame of the caller's audio.
    public mutating func handleAudio(_ frame: [Int16]) {
        let event = detector.process(frame)
        if detector.isSpeaking || event != nil {
            utterance.append(frame)
            if detector.frameDuration * utterance.count > Self.maxUtterance { utterance.removeLast() }
        } else {
            recentFrames.append(frame)
            // The padding before the onset, plus the onset frames heard before speech was declared.
            let keep = Int(detector.configuration.prefixPadding.nanosecondsRounded / detector.frameDuration.nanosecondsRounded)
                + VoiceActivityDetector.onsetFrames - 1
            if recentFrames.count > keep { recentFrames.removeFirst(recentFrames.count - keep) }
        }
        switch event {
        case .speechStarted(let start)?:
            if let response = respondingTo {
                // Barge-in: the caller takes the floor; nothing more of the answer is played.
                actions.append(.clearOutput)
                finishResponse(response, status: "cancelled")
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
            commitUserAudio(item)
            respond(with: utterance)
            utterance.removeAll()
            itemID = nil
        case nil:
            break
        }
    }

    /// Handles an event from the client (the `oai-events` channel).
    public mutating func handleClientEvent(_ event: RealtimeEvent) {
        switch event.type {
        case "session.update":
            applySessionUpdate(event)
        case "response.cancel", "output_audio_buffer.clear":
            guard let response = respondingTo else { return }
            actions.append(.clearOutput)
            finishResponse(response, status: "cancelled")
        case "conversation.item.create":
            createItem(event)
        case "input_audio_buffer.clear":
            utterance.removeAll()
            actions.append(.send(RealtimeEvent(type: "input_audio_buffer.cleared")))
        default:
            actions.append(.send(.error(
                code: "unsupported_event", message: "the built-in agent does not handle \"\(event.type)\"",
                eventID: event["event_id"]?.stringValue)))
        }
    }

    /// The transceiver played the last queued frame of `responseID`.
    public mutating func outputFinished(responseID: String) {
        guard respondingTo == responseID else { return }
        respondingTo = nil
    }

    public mutating func pollAction() -> Action? {
        actions.popFirst()
    }

    /// `input_audio_buffer.committed` for the caller's audio as the user message `item`.
    private mutating func commitUserAudio(_ item: String) {
        let message: [String: JSONValue] = [
            "id": .string(item), "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
            "content": [["type": "input_audio", "transcript": .null]],
        ]
        // Ids the agent makes are unique, so the insertion cannot be refused.
        let previous = try? conversation.insert(message)
        actions.append(.send(RealtimeEvent(type: "input_audio_buffer.committed", fields: [
            "item_id": .string(item), "previous_item_id": previous.map(JSONValue.string) ?? .null])))
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

    private mutating func announceItem(_ item: JSONValue, previous: String?) {
        for type in ["conversation.item.added", "conversation.item.done"] {
            actions.append(.send(RealtimeEvent(type: type, fields: [
                "item": item, "previous_item_id": previous.map(JSONValue.string) ?? .null])))
        }
    }

    private mutating func respond(with frames: [[Int16]]) {
        let response = nextID("resp")
        respondingTo = response
        actions.append(.send(RealtimeEvent(type: "response.created", fields: [
            "response": ["id": .string(response), "object": "realtime.response", "status": "in_progress"]])))
        for frame in frames { actions.append(.play(frame, responseID: response)) }
        actions.append(.send(RealtimeEvent(type: "response.done", fields: [
            "response": ["id": .string(response), "object": "realtime.response", "status": "completed"]])))
    }

    private mutating func finishResponse(_ response: String, status: String) {
        respondingTo = nil
        actions.append(.send(RealtimeEvent(type: "response.done", fields: [
            "response": ["id": .string(response), "object": "realtime.response", "status": .string(status)]])))
    }

    /// Reads `turn_detection` from either the GA shape (`session.audio.input.turn_detection`)
    /// or the beta shape (`session.turn_detection`) and answers `session.updated`.
    private mutating func applySessionUpdate(_ event: RealtimeEvent) {
        let session = event["session"]
        let turn = session?["audio"]?["input"]?["turn_detection"] ?? session?["turn_detection"]
        var configuration = detector.configuration
        if let threshold = turn?["threshold"]?.numberValue {
            guard (0...1).contains(threshold) else {
                actions.append(.send(.error(code: "invalid_value", message: "turn_detection.threshold must be within 0…1",
                                            eventID: event["event_id"]?.stringValue)))
                return
            }
            configuration.threshold = threshold
        }
        if let padding = turn?["prefix_padding_ms"]?.numberValue, (0...5_000).contains(padding) {
            configuration.prefixPadding = .milliseconds(Int(padding))
        }
        if let silence = turn?["silence_duration_ms"]?.numberValue, (0...10_000).contains(silence) {
            configuration.silenceDuration = .milliseconds(Int(silence))
        }
        detector.configuration = configuration
        actions.append(.send(RealtimeEvent(type: "session.updated", fields: [
            "session": ["type": "realtime", "audio": ["input": ["turn_detection": [
                "type": "server_vad",
                "threshold": .number(configuration.threshold),
                "prefix_padding_ms": .number(configuration.prefixPadding.milliseconds),
                "silence_duration_ms": .number(configuration.silenceDuration.milliseconds),
            ]]]]])))
    }

    private mutating func nextID(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)_\(counter)"
    }
}
