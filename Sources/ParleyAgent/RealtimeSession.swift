/// One call's Realtime session as the edge keeps it: the `session` object of the OpenAI
/// Realtime API (GA shape), starting from Parley's defaults, with every accepted
/// `session.update` merged in. `session.created` and `session.updated` carry the whole of it.
///
/// Merging: an object in the update merges into the object it names, key by key and at any
/// depth; anything else (a string, a number, an array, `null`) replaces what was there.
/// Fields Parley does not know are kept as they came, so a client reads back what it set.
/// Fields it knows are checked first, and an update with one bad field changes nothing.
public struct RealtimeSession: Sendable, Equatable {
    /// Why an update was refused: the field (as a dotted path) and what is wrong with it.
    public struct Invalid: Error, Sendable, Equatable {
        public var param: String
        public var message: String

        /// The Realtime API's `error` event for it, naming the client event that caused it.
        public func event(eventID: String?) -> RealtimeEvent {
            .error(code: "invalid_value", message: message, param: param, eventID: eventID)
        }
    }

    /// Voice-activity settings of `audio.input.turn_detection` (the Realtime API's
    /// `server_vad` and `semantic_vad`), checked here because the built-in agent uses them.
    static let turnDetectionTypes: Set<String> = ["server_vad", "semantic_vad"]
    static let eagerness: Set<String> = ["low", "medium", "high", "auto"]
    static let modalities: Set<String> = ["audio", "text"]

    public private(set) var fields: [String: JSONValue]

    /// Parley's defaults for a new call whose session id is `id`.
    public init(id: String) {
        fields = [
            "type": "realtime",
            "object": "realtime.session",
            "id": .string(id),
            "model": "parley",
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "audio": [
                "input": [
                    "format": ["type": "audio/pcm", "rate": 24_000],
                    "turn_detection": [
                        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
                        "create_response": true, "interrupt_response": true, "idle_timeout_ms": .null,
                    ],
                ],
                "output": ["format": ["type": "audio/pcm", "rate": 24_000], "voice": "parley", "speed": 1.0],
            ],
        ]
    }

    public var value: JSONValue { .object(fields) }

    /// Merges `update` (a `session.update`'s `session`) after checking the fields Parley knows.
    public mutating func apply(_ update: JSONValue) throws(Invalid) {
        guard case .object(let changes) = update else {
            throw Invalid(param: "session", message: "session must be a JSON object")
        }
        try Self.check(changes)
        fields = Self.merge(changes, into: fields)
    }

    /// Takes what a backend reports in its `session.updated` (its effective settings) without
    /// checks: the backend is trusted, and it may normalise what the caller sent.
    public mutating func adopt(_ reported: JSONValue) {
        guard case .object(let changes) = reported else { return }
        fields = Self.merge(changes, into: fields)
    }

    /// `session.created`, the first event of a call.
    public var createdEvent: RealtimeEvent {
        RealtimeEvent(type: "session.created", fields: ["session": value])
    }

    /// `session.updated` with the whole merged session.
    public var updatedEvent: RealtimeEvent {
        RealtimeEvent(type: "session.updated", fields: ["session": value])
    }

    // MARK: Merging

    /// `base` with `changes` merged in by the rule above (objects key by key, anything else
    /// replaces), unchecked: for combining settings from two sources before they are applied.
    public static func merge(_ changes: [String: JSONValue], into base: [String: JSONValue]) -> [String: JSONValue] {
        var merged = base
        for (key, change) in changes {
            if case .object(let inner) = change, case .object(let existing)? = merged[key] {
                merged[key] = .object(merge(inner, into: existing))
            } else {
                merged[key] = change
            }
        }
        return merged
    }

    // MARK: Checks

    static func check(_ session: [String: JSONValue]) throws(Invalid) {
        if let type = session["type"], type != "realtime" {
            throw Invalid(param: "session.type", message: "session.type must be \"realtime\" (transcription sessions are not supported)")
        }
        if let instructions = session["instructions"], instructions.stringValue == nil {
            throw Invalid(param: "session.instructions", message: "session.instructions must be a string")
        }
        if let modalities = session["output_modalities"] {
            guard case .array(let values) = modalities, !values.isEmpty,
                  values.allSatisfy({ $0.stringValue.map(Self.modalities.contains) == true }) else {
                throw Invalid(param: "session.output_modalities", message: "session.output_modalities must be a non-empty array of \"audio\" or \"text\"")
            }
        }
        if let tools = session["tools"] {
            guard case .array(let values) = tools, values.allSatisfy({ $0["type"]?.stringValue != nil }) else {
                throw Invalid(param: "session.tools", message: "session.tools must be an array of objects, each with a \"type\"")
            }
        }
        if let tokens = session["max_output_tokens"], tokens != "inf" {
            guard let count = tokens.numberValue, count == count.rounded(), (1...4_096).contains(count) else {
                throw Invalid(param: "session.max_output_tokens", message: "session.max_output_tokens must be an integer within 1…4096 or \"inf\"")
            }
        }
        if let voice = session["audio"]?["output"]?["voice"], voice.stringValue == nil {
            throw Invalid(param: "session.audio.output.voice", message: "session.audio.output.voice must be a string")
        }
        if let turn = session["audio"]?["input"]?["turn_detection"] {
            try checkTurnDetection(turn, param: "session.audio.input.turn_detection")
        }
        // The beta shape, which the built-in agent also reads.
        if let turn = session["turn_detection"] {
            try checkTurnDetection(turn, param: "session.turn_detection")
        }
    }

    static func checkTurnDetection(_ turn: JSONValue, param: String) throws(Invalid) {
        if turn == .null { return }
        guard case .object(let settings) = turn else {
            throw Invalid(param: param, message: "\(param) must be an object or null")
        }
        if let type = settings["type"], type.stringValue.map(turnDetectionTypes.contains) != true {
            throw Invalid(param: "\(param).type", message: "\(param).type must be \"server_vad\" or \"semantic_vad\"")
        }
        func number(_ key: String, within range: ClosedRange<Double>, nullable: Bool = false) throws(Invalid) {
            guard let value = settings[key], !(nullable && value == .null) else { return }
            guard let number = value.numberValue, range.contains(number) else {
                throw Invalid(param: "\(param).\(key)", message: "\(param).\(key) must be a number within \(range.lowerBound.formatted)…\(range.upperBound.formatted)\(nullable ? " or null" : "")")
            }
        }
        try number("threshold", within: 0...1)
        try number("prefix_padding_ms", within: 0...5_000)
        try number("silence_duration_ms", within: 0...10_000)
        try number("idle_timeout_ms", within: 5_000...30_000, nullable: true)
        for key in ["create_response", "interrupt_response"] {
            if let flag = settings[key], case .bool = flag { continue }
            if settings[key] != nil {
                throw Invalid(param: "\(param).\(key)", message: "\(param).\(key) must be true or false")
            }
        }
        if let eagerness = settings["eagerness"], eagerness.stringValue.map(Self.eagerness.contains) != true {
            throw Invalid(param: "\(param).eagerness", message: "\(param).eagerness must be \"low\", \"medium\", \"high\" or \"auto\"")
        }
    }
}

extension Double {
    /// Whole numbers without a fraction, for messages.
    fileprivate var formatted: String {
        self == rounded() ? String(Int(self)) : String(self)
    }
}
