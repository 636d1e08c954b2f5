import Foundation
import ParleyWire

/// An audio response of the built-in agent while its audio plays.
struct PlayingResponse: Sendable {
    var id: String
    /// The response object's fixed fields (`id`, `object`, `conversation_id`, `metadata`, ...).
    var fields: [String: JSONValue]
    /// Its assistant message.
    var item: [String: JSONValue]
    var writesConversation: Bool
}

/// The `response` object of a `response.create`, as far as the built-in agent reads it.
struct ResponseRequest: Sendable {
    var toolChoice: JSONValue?
    var tools: [JSONValue]?
    /// `conversation: "none"`: the response writes nothing to the conversation.
    var outOfBand = false
    var metadata: JSONValue = .null
    /// `input`: the items the response is about, instead of the conversation.
    var input: [JSONValue]?

    init() {}

    /// Checks what the agent reads; `instructions` and `max_output_tokens` are checked and
    /// have no effect (there is no model), other fields are ignored.
    init(_ value: JSONValue?) throws(ClientEventRefusal) {
        guard let value, value != .null else { return }
        guard case .object(let fields) = value else { throw ClientEventRefusal(param: "response", "response must be a JSON object") }
        if let instructions = fields["instructions"], instructions.stringValue == nil {
            throw ClientEventRefusal(param: "response.instructions", "response.instructions must be a string")
        }
        if let tokens = fields["max_output_tokens"], tokens != "inf" {
            guard let count = tokens.numberValue, count == count.rounded(), (1...4_096).contains(count) else {
                throw ClientEventRefusal(param: "response.max_output_tokens", "response.max_output_tokens must be an integer within 1…4096 or \"inf\"")
            }
        }
        if let choice = fields["tool_choice"] {
            try BuiltInAgent.checkToolChoice(choice, param: "response.tool_choice")
            toolChoice = choice
        }
        if let tools = fields["tools"] { self.tools = try BuiltInAgent.checkedTools(tools, param: "response.tools") }
        switch fields["conversation"] {
        case nil, "auto"?: break
        case "none"?: outOfBand = true
        default: throw ClientEventRefusal(param: "response.conversation", "response.conversation must be \"auto\" or \"none\"")
        }
        if let metadata = fields["metadata"], metadata != .null {
            guard case .object(let pairs) = metadata, pairs.count <= 16,
                  pairs.allSatisfy({ $0.key.count <= 64 && ($0.value.stringValue?.count ?? 513) <= 512 }) else {
                throw ClientEventRefusal(param: "response.metadata", "response.metadata must be an object of at most 16 strings (keys up to 64 characters, values up to 512)")
            }
            self.metadata = metadata
        }
        if let input = fields["input"] {
            guard case .array(let items) = input else { throw ClientEventRefusal(param: "response.input", "response.input must be an array of items") }
            self.input = items
        }
    }
}

extension BuiltInAgent {
    /// Length of the tone an audio response plays when there is no user audio to speak back.
    public static let toneDuration: Duration = .milliseconds(300)
    /// Sample rate of the audio the agent hears and plays (the Realtime API's `audio/pcm`).
    public static let sampleRate = 24_000

    // MARK: Client events

    /// `response.create`: a response by the rules on `handleClientEvent(_:)`.
    mutating func createResponse(_ event: RealtimeEvent) {
        do throws(ClientEventRefusal) {
            let request = try ResponseRequest(event["response"])
            if let active = playing, !(request.outOfBand && forcedFunction(for: request) != nil) {
                throw ClientEventRefusal(
                    code: "conversation_already_has_active_response", param: nil,
                    "Conversation already has an active response in progress: \(active.id). Wait until the response is finished before creating a new one.")
            }
            respond(request)
        } catch {
            send(error.event(eventID: event["event_id"]?.stringValue))
        }
    }

    /// `response.cancel`: cancels the response being played; one that names another response
    /// gets `response_cancel_not_active`, one that names none while nothing plays is ignored.
    mutating func cancelResponse(_ event: RealtimeEvent) {
        let named = event["response_id"]
        if let named, named != .null {
            guard let id = named.stringValue else {
                return send(ClientEventRefusal(param: "response_id", "response_id must be a string").event(eventID: event["event_id"]?.stringValue))
            }
            guard id == playing?.id else {
                return send(ClientEventRefusal(
                    code: "response_cancel_not_active", param: "response_id",
                    "Cancellation failed: no active response with id \"\(id)\"").event(eventID: event["event_id"]?.stringValue))
            }
        }
        guard playing != nil else { return }
        actions.append(.clearOutput)
        cancelResponse(reason: "client_cancelled")
    }

    // MARK: Responses

    /// Makes a response to `request`: a function call or audio, by the rules on
    /// `handleClientEvent(_:)`.
    mutating func respond(_ request: ResponseRequest = ResponseRequest()) {
        idleFrames = 0
        let id = nextID("resp")
        let fields: [String: JSONValue] = [
            "id": .string(id), "object": "realtime.response",
            "conversation_id": request.outOfBand ? .null : .string(conversationID),
            "output_modalities": ["audio"], "metadata": request.metadata,
        ]
        if let name = forcedFunction(for: request) {
            callFunction(name, response: fields, writesConversation: !request.outOfBand)
        } else {
            speak(response: fields, writesConversation: !request.outOfBand)
        }
    }

    /// The function a response must call, if any.
    func forcedFunction(for request: ResponseRequest) -> String? {
        let functions = (request.tools ?? tools).filter { $0["type"] == "function" }.compactMap { $0["name"]?.stringValue }
        var latest = request.input.map { $0.last } ?? conversation.lastItem
        if latest?["type"] == "item_reference", let id = latest?["id"] {
            latest = conversation.items.last(where: { $0["id"] == id })
        }
        guard latest?["type"] != "function_call_output" else { return nil }
        let choice = request.toolChoice ?? toolChoice
        if choice == "required" { return functions.first }
        guard choice["type"] == "function", let name = choice["name"]?.stringValue, functions.contains(name) else { return nil }
        return name
    }

    /// A function call: `response.created`, `response.output_item.added`,
    /// `conversation.item.added`, `response.function_call_arguments.done`,
    /// `conversation.item.done`, `response.output_item.done`, `response.done`. Nothing plays.
    private mutating func callFunction(_ name: String, response fields: [String: JSONValue], writesConversation: Bool) {
        let responseID = fields["id"] ?? .null
        var item: [String: JSONValue] = [
            "id": .string(nextID("item")), "object": "realtime.item", "type": "function_call", "status": "in_progress",
            "name": .string(name), "call_id": .string(nextID("call")), "arguments": "",
        ]
        send(responseEvent("response.created", fields, status: "in_progress", output: []))
        send(RealtimeEvent(type: "response.output_item.added", fields: ["response_id": responseID, "output_index": 0, "item": .object(item)]))
        var previous: JSONValue = .null
        if writesConversation {
            // Ids the agent makes are unique, so the insertion cannot be refused.
            previous = (try? conversation.insert(item)).map(JSONValue.string) ?? .null
            send(RealtimeEvent(type: "conversation.item.added", fields: ["item": .object(item), "previous_item_id": previous]))
        }
        item["arguments"] = "{}"
        item["status"] = "completed"
        send(RealtimeEvent(type: "response.function_call_arguments.done", fields: [
            "response_id": responseID, "item_id": item["id"] ?? .null, "output_index": 0,
            "call_id": item["call_id"] ?? .null, "name": .string(name), "arguments": "{}"]))
        if writesConversation {
            conversation.replace(item)
            send(RealtimeEvent(type: "conversation.item.done", fields: ["item": .object(item), "previous_item_id": previous]))
        }
        send(RealtimeEvent(type: "response.output_item.done", fields: ["response_id": responseID, "output_index": 0, "item": .object(item)]))
        send(responseEvent("response.done", fields, status: "completed", output: [.object(item)]))
    }

    /// An audio response: `response.created`, the frames, `response.done` with the assistant
    /// message; it stays active until played, cancelled or interrupted.
    private mutating func speak(response fields: [String: JSONValue], writesConversation: Bool) {
        let id = fields["id"]?.stringValue ?? ""
        let frames = unansweredAudio ?? Self.tone(frameDuration: detector.frameDuration)
        unansweredAudio = nil
        let item: [String: JSONValue] = [
            "id": .string(nextID("item")), "object": "realtime.item", "type": "message", "role": "assistant",
            "status": "completed", "content": [["type": "output_audio", "transcript": ""]],
        ]
        if writesConversation { _ = try? conversation.insert(item) }
        playing = PlayingResponse(id: id, fields: fields, item: item, writesConversation: writesConversation)
        send(responseEvent("response.created", fields, status: "in_progress", output: []))
        for frame in frames { actions.append(.play(frame, responseID: id)) }
        send(responseEvent("response.done", fields, status: "completed", output: [.object(item)]))
    }

    /// Ends the audio response being played: `response.done` with status `cancelled` and
    /// `reason` (`turn_detected`, `client_cancelled`); its message becomes `incomplete`.
    mutating func cancelResponse(reason: String) {
        guard let response = playing else { return }
        playing = nil
        var item = response.item
        item["status"] = "incomplete"
        if response.writesConversation { conversation.replace(item) }
        var done = responseEvent("response.done", response.fields, status: "cancelled", output: [.object(item)])
        if case .object(var object)? = done["response"] {
            object["status_details"] = ["type": "cancelled", "reason": .string(reason)]
            done["response"] = .object(object)
        }
        send(done)
    }

    private func responseEvent(_ type: String, _ fields: [String: JSONValue], status: String, output: [JSONValue]) -> RealtimeEvent {
        var response = fields
        response["status"] = .string(status)
        response["output"] = .array(output)
        return RealtimeEvent(type: type, fields: ["response": .object(response)])
    }

    /// A soft 440 Hz tone at −30 dBFS, faded in and out over 20 ms, in frames of
    /// `frameDuration`: what an audio response plays when there is nothing to speak back.
    static func tone(frameDuration: Duration) -> [[Int16]] {
        let frameSamples = Int(Int64(sampleRate) * frameDuration.nanosecondsRounded / 1_000_000_000)
        let total = Int(Int64(sampleRate) * toneDuration.nanosecondsRounded / 1_000_000_000)
        let fade = sampleRate / 50
        let amplitude = 32_767 * pow(10, -30.0 / 20)
        let samples = (0..<total).map { index in
            let envelope = Double(min(fade, index, total - 1 - index)) / Double(fade)
            return Int16(amplitude * envelope * sin(2 * Double.pi * 440 * Double(index) / Double(sampleRate)))
        }
        return stride(from: 0, to: total, by: frameSamples).map { Array(samples[$0..<min(total, $0 + frameSamples)]) }
    }

    // MARK: Tools

    /// `tools` of a session or a response: an array of objects with a `type`; a function tool
    /// needs a `name`.
    static func checkedTools(_ value: JSONValue, param: String) throws(ClientEventRefusal) -> [JSONValue] {
        guard case .array(let tools) = value else { throw ClientEventRefusal(param: param, "\(param) must be an array of tools") }
        for (index, tool) in tools.enumerated() {
            guard let type = tool["type"]?.stringValue else {
                throw ClientEventRefusal(param: "\(param)[\(index)].type", "\(param)[\(index)] must be an object with a string \"type\"")
            }
            if type == "function", tool["name"]?.stringValue?.isEmpty != false {
                throw ClientEventRefusal(param: "\(param)[\(index)].name", "\(param)[\(index)] is a function tool and needs a \"name\"")
            }
        }
        return tools
    }

    /// `tool_choice`: `"none"`, `"auto"`, `"required"`, a function by name or an MCP server.
    static func checkToolChoice(_ value: JSONValue, param: String) throws(ClientEventRefusal) {
        if let mode = value.stringValue, ["none", "auto", "required"].contains(mode) { return }
        switch value["type"]?.stringValue {
        case "function"? where value["name"]?.stringValue?.isEmpty == false: return
        case "mcp"? where value["server_label"]?.stringValue?.isEmpty == false: return
        default: throw ClientEventRefusal(param: param, #"\#(param) must be "none", "auto", "required", {"type":"function","name":...} or {"type":"mcp","server_label":...}"#)
        }
    }
}
