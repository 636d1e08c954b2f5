import ParleyWire

/// How the built-in agent takes turns: the Realtime API's `audio.input.turn_detection`
/// (`server_vad`, `semantic_vad`, or `null` for turns the client commits itself).
public struct TurnDetection: Sendable, Equatable {
    /// `semantic_vad`'s `eagerness`. The agent has no model of what the caller means, so it
    /// waits a silence window for the caller to finish that is shorter the more eager it is.
    public enum Eagerness: String, Sendable {
        case low, medium, high, auto

        /// Quiet that ends a turn: `low` 1,200 ms, `medium` and `auto` 500 ms (the `server_vad`
        /// default), `high` 250 ms.
        public var silenceDuration: Duration {
            switch self {
            case .low: .milliseconds(1_200)
            case .medium, .auto: .milliseconds(500)
            case .high: .milliseconds(250)
            }
        }
    }

    /// The `type` of `turn_detection`, or manual turns.
    public enum Kind: Sendable, Equatable {
        /// `turn_detection: null`: no VAD events and no automatic responses; the client sends
        /// `input_audio_buffer.commit` and `response.create`.
        case manual
        /// `server_vad`: the energy detector ends a turn after `silence_duration_ms` of quiet.
        case serverVAD
        /// Server VAD whose silence window comes from the eagerness.
        case semanticVAD(Eagerness)
    }

    /// Manual turns, `server_vad` or `semantic_vad`.
    public var kind: Kind
    /// The detector's settings; kept while turns are manual, for when VAD comes back.
    public var vad: VoiceActivityDetector.Configuration
    /// `create_response`: a turn that VAD ends is answered.
    public var createResponse: Bool
    /// `interrupt_response`: the caller's speech cancels the response being played.
    public var interruptResponse: Bool
    /// `idle_timeout_ms`: quiet after which the agent prompts the caller (`server_vad` only).
    public var idleTimeout: Duration?

    /// The Realtime API's defaults: `server_vad`, threshold 0.5, 300 ms of prefix padding,
    /// 500 ms of silence, responses created and interrupted, no idle timeout.
    public init(kind: Kind = .serverVAD, vad: VoiceActivityDetector.Configuration = .init(),
                createResponse: Bool = true, interruptResponse: Bool = true, idleTimeout: Duration? = nil) {
        self.kind = kind
        self.vad = vad
        self.createResponse = createResponse
        self.interruptResponse = interruptResponse
        self.idleTimeout = idleTimeout
    }

    /// True for `turn_detection: null`.
    public var isManual: Bool { kind == .manual }

    /// The idle timeout in force: only `server_vad` has one, as in the Realtime API.
    public var effectiveIdleTimeout: Duration? { kind == .serverVAD ? idleTimeout : nil }

    /// These settings with a `turn_detection` value applied: `null` makes turns manual; in an
    /// object, fields that are absent keep their values (a missing `type` keeps the kind, or
    /// is `server_vad` after manual turns). Refused as the session's check refuses it, naming
    /// `param` and the field.
    public func applying(_ value: JSONValue, param: String) throws(RealtimeSession.Invalid) -> TurnDetection {
        try RealtimeSession.checkTurnDetection(value, param: param)
        var next = self
        guard case .object(let settings) = value else {
            next.kind = .manual
            return next
        }
        if let threshold = settings["threshold"]?.numberValue { next.vad.threshold = threshold }
        if let padding = settings["prefix_padding_ms"]?.numberValue { next.vad.prefixPadding = .milliseconds(Int(padding)) }
        if let silence = settings["silence_duration_ms"]?.numberValue { next.vad.silenceDuration = .milliseconds(Int(silence)) }
        if case .bool(let create)? = settings["create_response"] { next.createResponse = create }
        if case .bool(let interrupt)? = settings["interrupt_response"] { next.interruptResponse = interrupt }
        if let idle = settings["idle_timeout_ms"] { next.idleTimeout = idle.numberValue.map { .milliseconds(Int($0)) } }
        let current: Eagerness? = if case .semanticVAD(let eagerness) = kind { eagerness } else { nil }
        switch settings["type"]?.stringValue ?? (current == nil ? "server_vad" : "semantic_vad") {
        case "semantic_vad":
            let eagerness = settings["eagerness"]?.stringValue.flatMap(Eagerness.init) ?? current ?? .auto
            next.kind = .semanticVAD(eagerness)
            next.vad.silenceDuration = eagerness.silenceDuration
        default:
            next.kind = .serverVAD
        }
        return next
    }

    /// What `session.updated` reports: the caller's type (and eagerness) with the values in
    /// effect, or `null` for manual turns.
    public var reported: JSONValue {
        var fields: [String: JSONValue] = [
            "threshold": .number(vad.threshold),
            "prefix_padding_ms": .number(vad.prefixPadding.milliseconds),
            "silence_duration_ms": .number(vad.silenceDuration.milliseconds),
            "create_response": .bool(createResponse),
            "interrupt_response": .bool(interruptResponse),
            "idle_timeout_ms": effectiveIdleTimeout.map { .number($0.milliseconds) } ?? .null,
        ]
        switch kind {
        case .manual:
            return .null
        case .serverVAD:
            fields["type"] = "server_vad"
        case .semanticVAD(let eagerness):
            fields["type"] = "semantic_vad"
            fields["eagerness"] = .string(eagerness.rawValue)
        }
        return .object(fields)
    }
}
