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
