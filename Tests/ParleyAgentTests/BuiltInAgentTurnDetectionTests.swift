import ParleyAgent
import Testing

/// The session's `turn_detection` as the built-in agent honours it: manual turns, the
/// buffer commands, `create_response`, `interrupt_response`, `semantic_vad`, and refusals.
@Suite struct BuiltInAgentTurnDetectionTests {
    static let quiet = Signal.noise(dBFS: -60, frames: 20)
    static func turn(voiced: Int = 30, silence: Int = 30, seed: UInt64 = 4) -> [[Int16]] {
        Signal.tone(dBFS: -20, frames: voiced) + Signal.noise(dBFS: -60, frames: silence, seed: seed)
    }

    static func manualAgent() throws -> BuiltInAgent {
        var agent = BuiltInAgent()
        let updated = try agent.client(#"{"type":"session.update","session":{"audio":{"input":{"turn_detection":null}}}}"#)
        #expect(updated.types == ["session.updated"])
        #expect(updated.event("session.updated")?["session"]?["audio"]?["input"]?["turn_detection"] == .null)
        return agent
    }

    @Test func manualTurnsAreCommittedByTheClientAndNotAnswered() throws {
        var agent = try Self.manualAgent()
        #expect(agent.turnDetection.isManual)
        #expect(agent.hear(Self.quiet + Self.turn()).isEmpty)
        let actions = try agent.client(#"{"type":"input_audio_buffer.commit","event_id":"c1"}"#)
        #expect(actions.types == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"])
        let item = try #require(actions.event("input_audio_buffer.committed")?["item_id"])
        #expect(actions.event("input_audio_buffer.committed")?["previous_item_id"] == .null)
        #expect(actions.event("conversation.item.added")?["item"]?["id"] == item)
        #expect(actions.event("conversation.item.done")?["item"]?["role"] == "user")
        #expect(actions.playedFrames == 0 && agent.activeResponseID == nil)
        #expect(agent.conversation.lastItem?["id"] == item)

        // The buffer started over: the next commit names the first item as its predecessor.
        _ = agent.hear(Signal.tone(dBFS: -20, frames: 10))
        let next = try agent.client(#"{"type":"input_audio_buffer.commit"}"#)
        #expect(next.event("input_audio_buffer.committed")?["previous_item_id"] == item)
    }

    @Test func committingLessThan100msIsRefused() throws {
        var agent = try Self.manualAgent()
        _ = agent.hear(Signal.tone(dBFS: -20, frames: 4))
        let short = try agent.client(#"{"type":"input_audio_buffer.commit","event_id":"c2"}"#)
        #expect(short.types == ["error"])
        #expect(short.errorCode == "input_audio_buffer_commit_empty")
        #expect(short.event("error")?["error"]?["event_id"] == "c2")
        #expect(agent.conversation.items.isEmpty)
        _ = agent.hear(Signal.tone(dBFS: -20, frames: 1))
        #expect(try agent.client(#"{"type":"input_audio_buffer.commit"}"#).types.first == "input_audio_buffer.committed")
        #expect(try agent.client(#"{"type":"input_audio_buffer.commit"}"#).errorCode == "input_audio_buffer_commit_empty")
    }

    @Test func clearEmptiesTheBuffer() throws {
        var agent = try Self.manualAgent()
        _ = agent.hear(Signal.tone(dBFS: -20, frames: 20))
        #expect(try agent.client(#"{"type":"input_audio_buffer.clear"}"#).types == ["input_audio_buffer.cleared"])
        #expect(try agent.client(#"{"type":"input_audio_buffer.commit"}"#).errorCode == "input_audio_buffer_commit_empty")
    }

    @Test func aCommitMidTurnTakesWhatWasHeardAndTheTurnGoesOn() throws {
        var agent = BuiltInAgent()
        let start = agent.hear(Self.quiet + Signal.tone(dBFS: -20, frames: 20))
        let started = try #require(start.event("input_audio_buffer.speech_started")?["item_id"])
        let commit = try agent.client(#"{"type":"input_audio_buffer.commit"}"#)
        #expect(commit.types == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"])
        #expect(commit.event("input_audio_buffer.committed")?["item_id"] == started)

        let rest = agent.hear(Signal.tone(dBFS: -20, frames: 10, startFrame: 20) + Signal.noise(dBFS: -60, frames: 30, seed: 6))
        #expect(rest.types == ["input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "response.created", "response.done"])
        let stopped = rest.event("input_audio_buffer.speech_stopped")?["item_id"]
        #expect(stopped != nil && stopped != started)
        #expect(rest.event("input_audio_buffer.committed")?["previous_item_id"] == started)
        // The answer is what came after the commit: 10 voiced frames and the 500 ms of quiet.
        #expect(rest.playedFrames == 10 + 25)
    }

    @Test func withoutCreateResponseATurnIsCommittedButNotAnswered() throws {
        var agent = BuiltInAgent()
        let updated = try agent.client(#"{"type":"session.update","session":{"audio":{"input":{"turn_detection":{"type":"server_vad","create_response":false}}}}}"#)
        #expect(updated.event("session.updated")?["session"]?["audio"]?["input"]?["turn_detection"]?["create_response"] == false)
        let actions = agent.hear(Self.quiet + Self.turn())
        #expect(actions.types == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed"])
        #expect(actions.playedFrames == 0 && agent.activeResponseID == nil)
    }

    @Test func withoutInterruptResponseTheAnswerPlaysOnAndTheNextTurnIsNotAnsweredOverIt() throws {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"session.update","session":{"turn_detection":{"interrupt_response":false}}}"#)
        _ = agent.hear(Self.quiet + Self.turn())
        let response = try #require(agent.activeResponseID)
        let overlap = agent.hear(Self.turn(seed: 8))
        let cleared = overlap.contains(.clearOutput)
        #expect(!cleared)
        #expect(overlap.types == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed"])
        #expect(agent.activeResponseID == response)
        // Once the answer has played, turns are answered again.
        agent.outputFinished(responseID: response)
        #expect(agent.hear(Self.turn(seed: 9)).types.contains("response.created"))
    }

    @Test(arguments: [(TurnDetection.Eagerness.low, 1_200), (.medium, 500), (.high, 250), (.auto, 500)])
    func semanticVADWaitsBy(eagerness: TurnDetection.Eagerness, silence: Int) throws {
        var agent = BuiltInAgent()
        let updated = try agent.client(#"{"type":"session.update","session":{"audio":{"input":{"turn_detection":{"type":"semantic_vad","eagerness":"\#(eagerness.rawValue)"}}}}}"#)
        let reported = updated.event("session.updated")?["session"]?["audio"]?["input"]?["turn_detection"]
        #expect(reported?["type"] == "semantic_vad" && reported?["eagerness"] == .string(eagerness.rawValue))
        #expect(reported?["silence_duration_ms"] == .number(Double(silence)))
        #expect(reported?["create_response"] == true && reported?["idle_timeout_ms"] == .null)
        #expect(agent.turnDetection.kind == .semanticVAD(eagerness))
        #expect(agent.detector.configuration.silenceDuration == .milliseconds(silence))
    }

    @Test func highEagernessEndsATurnAtAPauseThatLowEagernessWaitsThrough() throws {
        let speech = Self.quiet + Signal.tone(dBFS: -20, frames: 30) + Signal.noise(dBFS: -60, frames: 20, seed: 2)
            + Signal.tone(dBFS: -20, frames: 30) + Signal.noise(dBFS: -60, frames: 80, seed: 3)
        var stops: [String: Int] = [:]
        for eagerness in ["low", "high"] {
            var agent = BuiltInAgent()
            _ = try agent.client(#"{"type":"session.update","session":{"turn_detection":{"type":"semantic_vad","eagerness":"\#(eagerness)","interrupt_response":false}}}"#)
            stops[eagerness] = agent.hear(speech).types.filter { $0 == "input_audio_buffer.speech_stopped" }.count
        }
        #expect(stops == ["low": 1, "high": 2])
    }

    static let badValues: [(String, String)] = [
        (#"{"audio":{"input":{"turn_detection":{"threshold":2}}}}"#, "session.audio.input.turn_detection.threshold"),
        (#"{"audio":{"input":{"turn_detection":{"type":"magic_vad"}}}}"#, "session.audio.input.turn_detection.type"),
        (#"{"audio":{"input":{"turn_detection":{"idle_timeout_ms":100}}}}"#, "session.audio.input.turn_detection.idle_timeout_ms"),
        (#"{"audio":{"input":{"turn_detection":{"silence_duration_ms":-1}}}}"#, "session.audio.input.turn_detection.silence_duration_ms"),
        (#"{"audio":{"input":{"turn_detection":{"prefix_padding_ms":9000}}}}"#, "session.audio.input.turn_detection.prefix_padding_ms"),
        (#"{"audio":{"input":{"turn_detection":{"create_response":"yes"}}}}"#, "session.audio.input.turn_detection.create_response"),
        (#"{"audio":{"input":{"turn_detection":{"interrupt_response":1}}}}"#, "session.audio.input.turn_detection.interrupt_response"),
        (#"{"audio":{"input":{"turn_detection":5}}}"#, "session.audio.input.turn_detection"),
        (#"{"turn_detection":{"type":"semantic_vad","eagerness":"eager"}}"#, "session.turn_detection.eagerness"),
        (#""not an object""#, "session"),
    ]

    @Test(arguments: badValues)
    func aBadValueIsRefusedByNameAndChangesNothing(session: String, param: String) throws {
        var agent = BuiltInAgent()
        let before = agent.turnDetection
        let actions = try agent.client(#"{"type":"session.update","event_id":"u1","session":\#(session)}"#)
        #expect(actions.types == ["error"])
        #expect(actions.errorCode == "invalid_value" && actions.errorParam == param)
        #expect(actions.event("error")?["error"]?["event_id"] == "u1")
        #expect(agent.turnDetection == before)
    }

    /// The edge merges every update into the whole session and reports back what the agent
    /// applied (`RealtimeSession`); a value at the other place of `turn_detection` goes stale.
    @Test func theValueTheClientLastChangedWinsInTheMergedSession() throws {
        var agent = BuiltInAgent()
        var session = RealtimeSession(id: "sess_t")
        func update(_ changes: JSONValue) throws {
            try session.apply(changes)
            agent.handleClientEvent(RealtimeEvent(type: "session.update", fields: ["session": session.value]))
            let reported = BuiltInAgentTests.drain(&agent).events.first { $0.type == "session.updated" }
            session.adopt(try #require(reported?["session"]))
        }
        try update(["instructions": "hello"])
        #expect(agent.turnDetection == TurnDetection())
        try update(["turn_detection": ["silence_duration_ms": 800]])
        #expect(agent.detector.configuration.silenceDuration == .milliseconds(800))
        try update(["audio": ["input": ["turn_detection": ["threshold": 0.7]]]])
        #expect(agent.detector.configuration == .init(threshold: 0.7, prefixPadding: .milliseconds(300), silenceDuration: .milliseconds(800)))
        try update(["instructions": "the beta value is stale now"])
        #expect(agent.detector.configuration.threshold == 0.7)
        try update(["turn_detection": ["silence_duration_ms": 600]])
        #expect(agent.detector.configuration == .init(threshold: 0.7, prefixPadding: .milliseconds(300), silenceDuration: .milliseconds(600)))
        try update(["audio": ["input": ["turn_detection": .null]]])
        #expect(agent.turnDetection.isManual)
        #expect(session.value["audio"]?["input"]?["turn_detection"] == .null)
    }

    @Test func theDefaultSessionChangesNothingAndIsReportedAsIs() throws {
        var agent = BuiltInAgent()
        let session = RealtimeSession(id: "sess_d")
        agent.handleClientEvent(RealtimeEvent(type: "session.update", fields: ["session": session.value]))
        let reported = BuiltInAgentTests.drain(&agent).event("session.updated")
        #expect(reported?["session"]?["audio"]?["input"]?["turn_detection"] == session.value["audio"]?["input"]?["turn_detection"])
        #expect(agent.turnDetection == TurnDetection())
    }

    @Test func vadComesBackAfterManualTurns() throws {
        var agent = try Self.manualAgent()
        _ = agent.hear(Self.quiet)
        let updated = try agent.client(#"{"type":"session.update","session":{"audio":{"input":{"turn_detection":{"type":"server_vad","silence_duration_ms":400}}}}}"#)
        let reported = updated.event("session.updated")?["session"]?["audio"]?["input"]?["turn_detection"]
        #expect(reported?["type"] == "server_vad" && reported?["silence_duration_ms"] == 400 && reported?["threshold"] == 0.5)
        let actions = agent.hear(Self.quiet + Self.turn())
        #expect(Array(actions.types.prefix(3)) == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed"])
    }
}
