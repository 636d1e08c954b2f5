import ParleyAgent
import Testing

/// The session the edge keeps per call: updates merge at any depth, unknown fields stay,
/// known ones are checked and a bad update changes nothing.
@Suite struct RealtimeSessionTests {
    @Test func updatesMergeAtAnyDepthAndKeepWhatParleyDoesNotKnow() throws {
        var session = RealtimeSession(id: "sess_1")
        try session.apply([
            "instructions": "Be brief.",
            "audio": ["input": ["turn_detection": ["silence_duration_ms": 800]], "output": ["voice": "marin"]],
            "tracing": ["workflow_name": "support"],
            "x_vendor_setting": [1, 2, 3],
        ])
        let value = session.value
        #expect(value["instructions"] == "Be brief.")
        #expect(value["tracing"]?["workflow_name"] == "support")
        #expect(value["x_vendor_setting"] == [1, 2, 3])
        #expect(value["audio"]?["output"]?["voice"] == "marin")
        // Siblings of what changed keep their values.
        let turn = value["audio"]?["input"]?["turn_detection"]
        #expect(turn?["silence_duration_ms"] == 800 && turn?["threshold"] == 0.5 && turn?["type"] == "server_vad")
        #expect(value["audio"]?["output"]?["format"]?["rate"] == 24_000)
        #expect(value["id"] == "sess_1" && value["type"] == "realtime")

        // null replaces: manual turn-taking.
        try session.apply(["audio": ["input": ["turn_detection": .null]]])
        #expect(session.value["audio"]?["input"]?["turn_detection"] == .null)
        #expect(session.createdEvent.type == "session.created" && session.createdEvent["session"] == session.value)
        #expect(session.updatedEvent.type == "session.updated" && session.updatedEvent["session"] == session.value)
    }

    /// `value` at the dotted `path` of an otherwise empty update.
    static func update(_ path: String, _ value: JSONValue) -> JSONValue {
        path.split(separator: ".").reversed().reduce(value) { inner, key in .object([String(key): inner]) }
    }

    static let badUpdates: [(JSONValue, String)] = [
        (update("audio.input.turn_detection.threshold", .number(1.5)), "session.audio.input.turn_detection.threshold"),
        (update("audio.input.turn_detection.type", .string("magic_vad")), "session.audio.input.turn_detection.type"),
        (update("audio.input.turn_detection.idle_timeout_ms", .number(100)), "session.audio.input.turn_detection.idle_timeout_ms"),
        (update("audio.input.turn_detection.create_response", .string("yes")), "session.audio.input.turn_detection.create_response"),
        (update("turn_detection.eagerness", .string("eager")), "session.turn_detection.eagerness"),
        (update("instructions", .number(42)), "session.instructions"),
        (update("output_modalities", .array([.string("video")])), "session.output_modalities"),
        (update("tools", .array([.string("not an object")])), "session.tools"),
        (update("max_output_tokens", .number(0)), "session.max_output_tokens"),
        (update("type", .string("transcription")), "session.type"),
        (.string("not an object"), "session"),
    ]

    @Test(arguments: badUpdates)
    func aBadFieldIsNamedAndChangesNothing(update: JSONValue, param: String) {
        var session = RealtimeSession(id: "sess_2")
        let before = session
        #expect(throws: RealtimeSession.Invalid.self) { try session.apply(update) }
        do {
            try session.apply(update)
        } catch {
            #expect(error.param == param)
            let event = error.event(eventID: "evt_client_7")
            #expect(event.type == "error")
            #expect(event["error"]?["param"] == .string(param) && event["error"]?["event_id"] == "evt_client_7")
            #expect(event["error"]?["code"] == "invalid_value")
        }
        #expect(session == before)
    }

    @Test func theBackendsReportIsTakenAsItIs() {
        var session = RealtimeSession(id: "sess_3")
        session.adopt(["audio": ["input": ["turn_detection": ["threshold": 0.7, "backend_note": "normalised"]]]])
        #expect(session.value["audio"]?["input"]?["turn_detection"]?["threshold"] == 0.7)
        #expect(session.value["audio"]?["input"]?["turn_detection"]?["backend_note"] == "normalised")
        #expect(session.value["audio"]?["input"]?["turn_detection"]?["prefix_padding_ms"] == 300)
    }
}
