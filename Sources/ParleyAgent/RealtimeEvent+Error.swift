extension RealtimeEvent {
    /// An `error` event that names the offending field of the client event in `error.param`,
    /// as the Realtime API does (`invalid_request_error` with `code`, `message`, `param` and
    /// the client's `event_id`).
    public static func error(code: String, message: String, param: String?, eventID: String?) -> RealtimeEvent {
        var event = error(code: code, message: message, eventID: eventID)
        if let param, case .object(var error)? = event["error"] {
            error["param"] = .string(param)
            event["error"] = .object(error)
        }
        return event
    }
}

/// Why the built-in agent refuses a client event; it becomes an `error` event.
struct ClientEventRefusal: Error, Sendable, Equatable {
    var code: String
    var message: String
    var param: String?

    init(code: String = "invalid_value", param: String?, _ message: String) {
        self.code = code
        self.message = message
        self.param = param
    }

    init(_ invalid: RealtimeSession.Invalid) {
        self.init(param: invalid.param, invalid.message)
    }

    func event(eventID: String?) -> RealtimeEvent {
        .error(code: code, message: message, param: param, eventID: eventID)
    }
}
