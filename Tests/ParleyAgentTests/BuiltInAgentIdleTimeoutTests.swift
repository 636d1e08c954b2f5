import ParleyAgent
import Testing

/// `idle_timeout_ms` of `server_vad`, counted in the frames fed: quiet after the last answer
/// finished playing, or since listening began, prompts the caller.
@Suite struct BuiltInAgentIdleTimeoutTests {
    static func agent(_ turnDetection: String) throws -> BuiltInAgent {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"session.update","session":{"audio":{"input":{"turn_detection":\#(turnDetection)}}}}"#)
        return agent
    }

    static func quiet(_ frames: Int, seed: UInt64 = 1) -> [[Int16]] { Signal.noise(dBFS: -60, frames: frames, seed: seed) }

    @Test func quietSinceListeningBeganIsAnsweredWithAPrompt() throws {
        var agent = try Self.agent(#"{"type":"server_vad","idle_timeout_ms":5000}"#)
        #expect(agent.hear(Self.quiet(249)).isEmpty)
        let actions = agent.hear(Self.quiet(1, seed: 2))
        #expect(actions.types == ["input_audio_buffer.timeout_triggered", "input_audio_buffer.committed", "response.created", "response.done"])
        let timeout = try #require(actions.event("input_audio_buffer.timeout_triggered"))
        #expect(timeout["audio_start_ms"] == 0 && timeout["audio_end_ms"] == 5_000)
        #expect(timeout["item_id"] == actions.event("input_audio_buffer.committed")?["item_id"])
        #expect(agent.conversation.lastItem?["role"] == "assistant")
        // Nothing was said: the prompt is the tone.
        #expect(actions.playedFrames == 15)
    }

    @Test func theTimeoutCountsFromTheEndOfTheAnswersPlayback() throws {
        var agent = try Self.agent(#"{"type":"server_vad","idle_timeout_ms":5000}"#)
        _ = agent.hear(Self.quiet(20) + Signal.tone(dBFS: -20, frames: 30) + Self.quiet(30, seed: 3))
        let response = try #require(agent.activeResponseID)
        // While the answer plays, quiet does not count.
        #expect(!agent.hear(Self.quiet(300, seed: 4)).types.contains("input_audio_buffer.timeout_triggered"))
        agent.outputFinished(responseID: response)
        #expect(agent.hear(Self.quiet(249, seed: 5)).isEmpty)
        let timeout = try #require(agent.hear(Self.quiet(1, seed: 6)).event("input_audio_buffer.timeout_triggered"))
        // 20 + 30 + 30 + 300 frames before playback ended, 250 after.
        #expect(timeout["audio_start_ms"] == .number(380 * 20) && timeout["audio_end_ms"] == .number(630 * 20))
    }

    @Test func withoutCreateResponseTheTimeoutIsOnlyReportedAndComesAgain() throws {
        var agent = try Self.agent(#"{"type":"server_vad","idle_timeout_ms":5000,"create_response":false}"#)
        let actions = agent.hear(Self.quiet(500))
        #expect(actions.types == ["input_audio_buffer.timeout_triggered", "input_audio_buffer.committed",
                                  "input_audio_buffer.timeout_triggered", "input_audio_buffer.committed"])
        #expect(actions.events.last?["previous_item_id"] == actions.events[1]["item_id"])
        #expect(agent.activeResponseID == nil)
    }

    @Test func speechRestartsTheCount() throws {
        var agent = try Self.agent(#"{"type":"server_vad","idle_timeout_ms":5000,"create_response":false}"#)
        let actions = agent.hear(Self.quiet(200) + Signal.tone(dBFS: -20, frames: 30) + Self.quiet(240, seed: 7))
        #expect(!actions.types.contains("input_audio_buffer.timeout_triggered"))
        // The count began with the frame that ended the turn, the 25th quiet one.
        let timeout = try #require(agent.hear(Self.quiet(40, seed: 8)).event("input_audio_buffer.timeout_triggered"))
        #expect(timeout["audio_end_ms"] == .number((200 + 30 + 24 + 250) * 20))
    }

    @Test(arguments: [
        #"{"type":"semantic_vad","idle_timeout_ms":5000}"#,
        #"null"#,
        #"{"type":"server_vad","idle_timeout_ms":null}"#,
    ])
    func onlyServerVADHasAnIdleTimeout(turnDetection: String) throws {
        var agent = try Self.agent(#"{"type":"server_vad","idle_timeout_ms":5000}"#)
        let updated = try agent.client(#"{"type":"session.update","session":{"audio":{"input":{"turn_detection":\#(turnDetection)}}}}"#)
        #expect(updated.event("session.updated")?["session"]?["audio"]?["input"]?["turn_detection"]?["idle_timeout_ms"] ?? .null == .null)
        #expect(agent.hear(Self.quiet(600)).isEmpty)
    }

    @Test func theReportCarriesTheTimeout() throws {
        var agent = BuiltInAgent()
        let updated = try agent.client(#"{"type":"session.update","session":{"audio":{"input":{"turn_detection":{"idle_timeout_ms":7000}}}}}"#)
        #expect(updated.event("session.updated")?["session"]?["audio"]?["input"]?["turn_detection"]?["idle_timeout_ms"] == 7_000)
        #expect(agent.turnDetection.idleTimeout == .seconds(7))
    }
}
