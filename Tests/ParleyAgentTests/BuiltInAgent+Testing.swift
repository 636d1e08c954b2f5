import ParleyAgent
import Testing

extension BuiltInAgent {
    /// Handles a client event written as JSON and returns what the agent did.
    mutating func client(_ json: String) throws -> [Action] {
        handleClientEvent(try RealtimeEvent(json: Array(json.utf8)))
        return BuiltInAgentTests.drain(&self)
    }

    /// Feeds frames of the caller's audio and returns what the agent did.
    mutating func hear(_ frames: [[Int16]]) -> [Action] {
        var actions: [Action] = []
        for frame in frames {
            handleAudio(frame)
            actions += BuiltInAgentTests.drain(&self)
        }
        return actions
    }
}

extension [BuiltInAgent.Action] {
    var events: [RealtimeEvent] {
        compactMap { if case .send(let event) = $0 { event } else { nil } }
    }

    var types: [String] { events.map(\.type) }

    var playedFrames: Int { BuiltInAgentTests.playedFrames(self) }

    /// The first event of `type`.
    func event(_ type: String) -> RealtimeEvent? {
        events.first { $0.type == type }
    }

    /// The `error` event's `error.param`, or nil when there is no error.
    var errorParam: String? { event("error")?["error"]?["param"]?.stringValue }
    var errorCode: String? { event("error")?["error"]?["code"]?.stringValue }
}
