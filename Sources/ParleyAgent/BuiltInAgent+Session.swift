import ParleyWire

extension BuiltInAgent {
    /// The two places of `turn_detection` in a `session.update`: GA, then beta.
    static let turnDetectionParams = ["session.audio.input.turn_detection", "session.turn_detection"]

    /// `session.update`: applies `turn_detection` from the GA shape
    /// (`session.audio.input.turn_detection`) or the beta shape (`session.turn_detection`),
    /// takes `tools` and `tool_choice`, and answers `session.updated` with the turn detection
    /// in effect. A bad value gets an `error` naming it in `param` and changes nothing.
    mutating func applySessionUpdate(_ event: RealtimeEvent) {
        let session = event["session"] ?? [:]
        do throws(ClientEventRefusal) {
            guard case .object = session else { throw ClientEventRefusal(param: "session", "session must be a JSON object") }
            let values = [session["audio"]?["input"]?["turn_detection"], session["turn_detection"]]
            let next = try turnDetection(from: values)
            let nextTools = try session["tools"].map { value throws(ClientEventRefusal) in try Self.checkedTools(value, param: "session.tools") }
            if let choice = session["tool_choice"] { try Self.checkToolChoice(choice, param: "session.tool_choice") }
            adopt(next)
            tools = nextTools ?? tools
            toolChoice = session["tool_choice"] ?? toolChoice
            for (param, value) in zip(Self.turnDetectionParams, values) where value != nil {
                seenTurnDetection[param] = value
            }
        } catch {
            return send(error.event(eventID: event["event_id"]?.stringValue))
        }
        send(RealtimeEvent(type: "session.updated", fields: [
            "session": ["type": "realtime", "audio": ["input": ["turn_detection": turnDetection.reported]]]]))
    }

    /// The settings a `session.update` asks for. The edge sends the whole merged session, in
    /// which both places may hold a value, the older one stale: a value counts when it is not
    /// the one seen there last time and it changes the settings; when both count, GA wins.
    private func turnDetection(from values: [JSONValue?]) throws(ClientEventRefusal) -> TurnDetection {
        var chosen: TurnDetection?
        for (param, value) in zip(Self.turnDetectionParams, values) {
            guard let value else { continue }
            let applied: TurnDetection
            do {
                applied = try turnDetection.applying(value, param: param)
            } catch {
                throw ClientEventRefusal(error)
            }
            if chosen == nil, value != seenTurnDetection[param], applied != turnDetection { chosen = applied }
        }
        return chosen ?? turnDetection
    }

    /// Takes new turn-detection settings. Audio not yet committed stays in the input buffer
    /// when turns become manual; when VAD comes back it keeps the last prefix padding's worth,
    /// and a fresh detector calibrates to the room again.
    private mutating func adopt(_ next: TurnDetection) {
        let previous = turnDetection
        guard next != previous else { return }
        turnDetection = next
        detector.configuration = next.vad
        idleFrames = 0
        switch (previous.isManual, next.isManual) {
        case (false, true):
            utterance = Array((recentFrames + utterance).prefix(Int(Self.maxUtterance.nanosecondsRounded / detector.frameDuration.nanosecondsRounded)))
            recentFrames.removeAll()
        case (true, false):
            detector = VoiceActivityDetector(configuration: next.vad, frameDuration: detector.frameDuration)
            recentFrames = Array(utterance.suffix(prefixFrames))
            utterance.removeAll()
        default:
            break
        }
    }
}
