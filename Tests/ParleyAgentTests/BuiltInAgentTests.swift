import ParleyAgent
import Testing

@Suite struct BuiltInAgentTests {
    static func drain(_ agent: inout BuiltInAgent) -> [BuiltInAgent.Action] {
        var actions: [BuiltInAgent.Action] = []
        while let action = agent.pollAction() { actions.append(action) }
        return actions
    }

    static func types(_ actions: [BuiltInAgent.Action]) -> [String] {
        actions.compactMap { if case .send(let event) = $0 { event.type } else { nil } }
    }

    static func playedFrames(_ actions: [BuiltInAgent.Action]) -> Int {
        actions.filter { if case .play = $0 { true } else { false } }.count
    }

    @Test func anUtteranceIsAnsweredWithAudioOfTheSameLength() {
        var agent = BuiltInAgent()
        var actions: [BuiltInAgent.Action] = []
        for frame in Signal.noise(dBFS: -60, frames: 40) + Signal.tone(dBFS: -20, frames: 75) + Signal.noise(dBFS: -60, frames: 40, seed: 3) {
            agent.handleAudio(frame)
            actions += Self.drain(&agent)
        }
        #expect(Self.types(actions) == [
            "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed", "response.created", "response.done",
        ])
        // 1.5 s of voice, 300 ms of prefix padding, and the 500 ms of silence before the stop.
        let played = Self.playedFrames(actions)
        #expect(played == 15 + 75 + 25, "played \(played) frames")
        #expect(agent.activeResponseID != nil)
    }

    @Test func bargeInClearsOutputAndCancelsTheResponse() {
        var agent = BuiltInAgent()
        for frame in Signal.noise(dBFS: -60, frames: 20) + Signal.tone(dBFS: -20, frames: 50) + Signal.noise(dBFS: -60, frames: 30, seed: 5) {
            agent.handleAudio(frame)
        }
        _ = Self.drain(&agent)
        let response = try? #require(agent.activeResponseID)
        var actions: [BuiltInAgent.Action] = []
        for frame in Signal.tone(dBFS: -20, frames: 5) {
            agent.handleAudio(frame)
            actions += Self.drain(&agent)
        }
        #expect(actions.first == .clearOutput)
        #expect(Self.types(actions) == ["response.done", "input_audio_buffer.speech_started"])
        if case .send(let done) = actions[1] {
            #expect(done["response"]?["status"]?.stringValue == "cancelled")
            #expect(done["response"]?["id"]?.stringValue == response)
        }
        #expect(agent.activeResponseID == nil)
    }

    @Test func sessionUpdateChangesTurnDetectionAndIsConfirmed() throws {
        var agent = BuiltInAgent()
        let update = try RealtimeEvent(json: Array(#"{"type":"session.update","session":{"turn_detection":{"threshold":0.8,"silence_duration_ms":300,"prefix_padding_ms":100}}}"#.utf8))
        agent.handleClientEvent(update)
        let actions = Self.drain(&agent)
        #expect(Self.types(actions) == ["session.updated"])
        #expect(agent.detector.configuration == .init(threshold: 0.8, prefixPadding: .milliseconds(100), silenceDuration: .milliseconds(300)))
        agent.handleClientEvent(RealtimeEvent(type: "session.update", fields: ["session": ["turn_detection": ["threshold": 7]]]))
        #expect(Self.types(Self.drain(&agent)) == ["error"])
    }

    @Test func cancelWithoutAResponseDoesNothingAndUnknownEventsGetAnError() {
        var agent = BuiltInAgent()
        agent.handleClientEvent(RealtimeEvent(type: "response.cancel"))
        #expect(Self.drain(&agent).isEmpty)
        agent.handleClientEvent(RealtimeEvent(type: "conversation.item.create", fields: ["event_id": "e1"]))
        let actions = Self.drain(&agent)
        guard case .send(let error)? = actions.first else { Issue.record("no error"); return }
        #expect(error["error"]?["event_id"]?.stringValue == "e1")
    }

    @Test func eventsRoundTripAndMalformedJSONIsRejected() throws {
        let event = RealtimeEvent(type: "x", fields: ["n": 3, "s": "a/b", "o": ["k": [true, .null]]])
        #expect(try RealtimeEvent(json: event.encodedJSON()) == event)
        #expect(throws: RealtimeEvent.DecodingError.notJSONObject) { try RealtimeEvent(json: Array("[1]".utf8)) }
        #expect(throws: RealtimeEvent.DecodingError.missingType) { try RealtimeEvent(json: Array(#"{"a":1}"#.utf8)) }
        #expect(throws: RealtimeEvent.DecodingError.notJSONObject) { try RealtimeEvent(json: Array("{".utf8)) }
    }
}
