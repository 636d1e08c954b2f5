import ParleyAgent
import Testing

/// `response.create`, `response.cancel` and the tool rules: a forced function tool makes a
/// function call until its output is the latest item; otherwise a response speaks back the
/// latest committed audio, or plays a tone.
@Suite struct BuiltInAgentResponseTests {
    static let toneFrames = 15
    static let functionCall = [
        "response.created", "response.output_item.added", "conversation.item.added",
        "response.function_call_arguments.done", "conversation.item.done", "response.output_item.done", "response.done",
    ]
    static let tools = #"[{"type":"function","name":"get_weather","parameters":{"type":"object"}},{"type":"function","name":"hang_up"}]"#

    static func manualAgent() throws -> BuiltInAgent {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"session.update","session":{"audio":{"input":{"turn_detection":null}}}}"#)
        return agent
    }

    @Test func withNothingToSpeakBackAResponseIsASoftTone() throws {
        var agent = BuiltInAgent()
        let actions = try agent.client(#"{"type":"response.create"}"#)
        #expect(actions.types == ["response.created", "response.done"])
        #expect(actions.playedFrames == Self.toneFrames)
        let frames = actions.compactMap { if case .play(let frame, _) = $0 { frame } else { nil } }
        #expect(frames.allSatisfy { $0.count == 480 })
        let peak = frames.flatMap { $0 }.map { abs(Int($0)) }.max() ?? 0
        #expect(peak > 900 && peak < 1_100, "peak \(peak)")
        let done = try #require(actions.event("response.done")?["response"])
        #expect(done["status"] == "completed" && done["id"]?.stringValue == agent.activeResponseID)
        #expect(done["output"]?.arrayFirstType == "message")
        if case .array(let output)? = done["output"] {
            #expect(output.first?["role"] == "assistant" && agent.conversation.lastItem == output.first)
        }
    }

    @Test func aResponseSpeaksBackTheLatestCommittedAudioOnce() throws {
        var agent = try Self.manualAgent()
        _ = agent.hear(Signal.tone(dBFS: -20, frames: 20))
        _ = try agent.client(#"{"type":"input_audio_buffer.commit"}"#)
        let first = try agent.client(#"{"type":"response.create"}"#)
        #expect(first.playedFrames == 20)
        agent.outputFinished(responseID: try #require(agent.activeResponseID))
        #expect(try agent.client(#"{"type":"response.create"}"#).playedFrames == Self.toneFrames)
    }

    @Test func aResponseWhileOneIsActiveIsRefused() throws {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"response.create"}"#)
        let active = try #require(agent.activeResponseID)
        let refused = try agent.client(#"{"type":"response.create","event_id":"r2"}"#)
        #expect(refused.types == ["error"])
        #expect(refused.errorCode == "conversation_already_has_active_response")
        #expect(refused.event("error")?["error"]?["event_id"] == "r2")
        #expect(agent.activeResponseID == active)
        agent.outputFinished(responseID: active)
        #expect(try agent.client(#"{"type":"response.create"}"#).types == ["response.created", "response.done"])
    }

    @Test func cancelNamesTheActiveResponseOrIsRefused() throws {
        var agent = BuiltInAgent()
        #expect(try agent.client(#"{"type":"response.cancel","response_id":"resp_x","event_id":"k0"}"#).errorCode == "response_cancel_not_active")
        _ = try agent.client(#"{"type":"response.create"}"#)
        let active = try #require(agent.activeResponseID)
        let wrong = try agent.client(#"{"type":"response.cancel","response_id":"resp_other","event_id":"k1"}"#)
        #expect(wrong.types == ["error"])
        #expect(wrong.errorCode == "response_cancel_not_active" && wrong.errorParam == "response_id")
        #expect(wrong.event("error")?["error"]?["event_id"] == "k1")
        #expect(agent.activeResponseID == active)

        let cancel = try agent.client(#"{"type":"response.cancel","response_id":"\#(active)"}"#)
        #expect(cancel.first == .clearOutput)
        #expect(cancel.types == ["response.done"])
        let done = cancel.event("response.done")?["response"]
        #expect(done?["status"] == "cancelled" && done?["id"] == .string(active))
        #expect(done?["status_details"] == ["type": "cancelled", "reason": "client_cancelled"])
        #expect(agent.activeResponseID == nil)
        #expect(agent.conversation.lastItem?["status"] == "incomplete")
    }

    @Test func bargeInCancelsWithTurnDetected() throws {
        var agent = BuiltInAgent()
        _ = agent.hear(Signal.noise(dBFS: -60, frames: 20) + Signal.tone(dBFS: -20, frames: 30) + Signal.noise(dBFS: -60, frames: 30, seed: 5))
        let actions = agent.hear(Signal.tone(dBFS: -20, frames: 5))
        #expect(actions.event("response.done")?["response"]?["status_details"]?["reason"] == "turn_detected")
    }

    /// The round trip a sideband or a page makes: tools in the session, a forced call, the
    /// output, and the response that follows it.
    @Test func aFunctionCallRoundTrip() throws {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"session.update","session":{"type":"realtime","tools":\#(Self.tools),"tool_choice":"auto"}}"#)
        let call = try agent.client(#"{"type":"response.create","response":{"tool_choice":{"type":"function","name":"get_weather"},"metadata":{"topic":"weather"}}}"#)
        #expect(call.types == Self.functionCall)
        #expect(call.playedFrames == 0 && agent.activeResponseID == nil)
        let responseID = try #require(call.event("response.created")?["response"]?["id"])
        let added = try #require(call.event("response.output_item.added"))
        #expect(added["response_id"] == responseID && added["output_index"] == 0)
        #expect(added["item"]?["type"] == "function_call" && added["item"]?["status"] == "in_progress")
        #expect(added["item"]?["name"] == "get_weather" && added["item"]?["arguments"] == "")
        let callID = try #require(added["item"]?["call_id"]?.stringValue)
        #expect(callID.hasPrefix("call_"))
        let arguments = try #require(call.event("response.function_call_arguments.done"))
        #expect(arguments["call_id"] == .string(callID) && arguments["item_id"] == added["item"]?["id"])
        #expect(arguments["name"] == "get_weather" && arguments["arguments"] == "{}" && arguments["response_id"] == responseID)
        let item = try #require(call.event("response.output_item.done")?["item"])
        #expect(item["status"] == "completed" && item["arguments"] == "{}")
        #expect(call.event("conversation.item.done")?["item"] == item)
        let done = try #require(call.event("response.done")?["response"])
        #expect(done["status"] == "completed" && done["output"] == [item] && done["metadata"] == ["topic": "weather"])
        #expect(agent.conversation.lastItem == item)

        let output = try agent.client(#"{"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"\#(callID)","output":"{\"sky\":\"clear\"}"}}"#)
        #expect(output.event("conversation.item.added")?["previous_item_id"] == item["id"])
        let answer = try agent.client(#"{"type":"response.create","response":{"tool_choice":{"type":"function","name":"get_weather"}}}"#)
        #expect(answer.types == ["response.created", "response.done"])
        #expect(answer.playedFrames == Self.toneFrames)
    }

    @Test func aForcedSessionToolMakesEveryTurnACallUntilItsOutputIsLatest() throws {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"session.update","session":{"tools":\#(Self.tools),"tool_choice":{"type":"function","name":"hang_up"}}}"#)
        let turn = agent.hear(Signal.noise(dBFS: -60, frames: 20) + Signal.tone(dBFS: -20, frames: 30) + Signal.noise(dBFS: -60, frames: 30, seed: 5))
        #expect(turn.types == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed"] + Self.functionCall)
        #expect(turn.event("response.output_item.added")?["item"]?["name"] == "hang_up")
        #expect(turn.playedFrames == 0)
        // Asked again before the output, it calls again.
        #expect(try agent.client(#"{"type":"response.create"}"#).types == Self.functionCall)
        let callID = try #require(agent.conversation.lastItem?["call_id"]?.stringValue)
        _ = try agent.client(#"{"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"\#(callID)","output":"done"}}"#)
        // The answer to the output speaks the turn back: 300 ms of padding, 30 voiced frames, 500 ms of quiet.
        let answer = try agent.client(#"{"type":"response.create"}"#)
        #expect(answer.types == ["response.created", "response.done"])
        #expect(answer.playedFrames == 15 + 30 + 25)
    }

    static let choices: [(String, String?)] = [
        (#""required""#, "get_weather"),
        (#"{"type":"function","name":"hang_up"}"#, "hang_up"),
        (#"{"type":"function","name":"not_a_tool"}"#, nil),
        (#""none""#, nil),
        (#""auto""#, nil),
        (#"{"type":"mcp","server_label":"crm"}"#, nil),
    ]

    @Test(arguments: choices)
    func toolChoiceDecidesTheResponse(choice: String, called: String?) throws {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"session.update","session":{"tools":\#(Self.tools),"tool_choice":\#(choice)}}"#)
        let actions = try agent.client(#"{"type":"response.create"}"#)
        #expect(actions.event("response.output_item.added")?["item"]?["name"]?.stringValue == called)
        #expect(actions.playedFrames == (called == nil ? Self.toneFrames : 0))
    }

    @Test func requiredWithoutFunctionToolsSpeaks() throws {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"session.update","session":{"tools":[{"type":"mcp","server_label":"crm"}],"tool_choice":"required"}}"#)
        #expect(try agent.client(#"{"type":"response.create"}"#).types == ["response.created", "response.done"])
    }

    @Test func theResponsesToolsAndInputOverrideTheSessionAndTheConversation() throws {
        var agent = BuiltInAgent()
        let call = try agent.client(#"{"type":"response.create","response":{"tools":[{"type":"function","name":"lookup"}],"tool_choice":"required"}}"#)
        #expect(call.event("response.function_call_arguments.done")?["name"] == "lookup")
        // The conversation ends with a function call, but the response's input ends with its output.
        let input = try agent.client(#"{"type":"response.create","response":{"tools":[{"type":"function","name":"lookup"}],"tool_choice":"required","input":[{"type":"function_call_output","call_id":"c","output":"x"}]}}"#)
        #expect(input.types == ["response.created", "response.done"])
    }

    @Test func anOutOfBandCallMayRunBesideAnAnswerAndWritesNothing() throws {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"response.create"}"#)
        let before = agent.conversation
        let call = try agent.client(#"{"type":"response.create","response":{"conversation":"none","tools":[{"type":"function","name":"classify"}],"tool_choice":"required","metadata":{"purpose":"classify"}}}"#)
        #expect(call.types == ["response.created", "response.output_item.added", "response.function_call_arguments.done", "response.output_item.done", "response.done"])
        #expect(call.event("response.done")?["response"]?["conversation_id"] == .null)
        #expect(call.event("response.done")?["response"]?["metadata"] == ["purpose": "classify"])
        #expect(agent.conversation == before)
        // An out-of-band audio response would play over the answer: refused.
        #expect(try agent.client(#"{"type":"response.create","response":{"conversation":"none"}}"#).errorCode == "conversation_already_has_active_response")
    }

    static let badResponses: [(String, String)] = [
        ("3", "response"),
        (#"{"tool_choice":"sometimes"}"#, "response.tool_choice"),
        (#"{"tool_choice":{"type":"function"}}"#, "response.tool_choice"),
        (#"{"tools":"get_weather"}"#, "response.tools"),
        (#"{"tools":[{"type":"function"}]}"#, "response.tools[0].name"),
        (#"{"tools":[{"name":"x"}]}"#, "response.tools[0].type"),
        (#"{"conversation":"conv_elsewhere"}"#, "response.conversation"),
        (#"{"metadata":{"n":1}}"#, "response.metadata"),
        (#"{"instructions":5}"#, "response.instructions"),
        (#"{"input":{}}"#, "response.input"),
        (#"{"max_output_tokens":0}"#, "response.max_output_tokens"),
    ]

    @Test(arguments: badResponses)
    func aBadResponseCreateIsRefusedByName(response: String, param: String) throws {
        var agent = BuiltInAgent()
        let actions = try agent.client(#"{"type":"response.create","event_id":"b1","response":\#(response)}"#)
        #expect(actions.types == ["error"])
        #expect(actions.errorParam == param && actions.errorCode == "invalid_value")
        #expect(actions.event("error")?["error"]?["event_id"] == "b1")
        #expect(agent.activeResponseID == nil && agent.conversation.items.isEmpty)
    }

    @Test(arguments: [
        (#"{"tools":[{"type":"function"}],"tool_choice":"required"}"#, "session.tools[0].name"),
        (#"{"tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":""}}"#, "session.tool_choice"),
        (#"{"tools":[{"type":"function","name":"f"}],"tool_choice":"required","turn_detection":{"threshold":9}}"#, "session.turn_detection.threshold"),
    ])
    func aBadToolSettingIsRefusedAndChangesNothing(session: String, param: String) throws {
        var agent = BuiltInAgent()
        let refused = try agent.client(#"{"type":"session.update","session":\#(session)}"#)
        #expect(refused.types == ["error"] && refused.errorParam == param)
        // Neither the tools nor the choice were taken: a response speaks.
        #expect(try agent.client(#"{"type":"response.create"}"#).types == ["response.created", "response.done"])
    }
}
