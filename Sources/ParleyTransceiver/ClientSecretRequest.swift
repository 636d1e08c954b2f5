import Foundation
import ParleyAgent
import ParleyRouting

/// The body of `POST /v1/realtime/client_secrets` as the OpenAI Realtime API defines it,
/// `{"expires_after": {"anchor": "created_at", "seconds": 600}, "session": {...}}`, plus
/// Parley's `max_call_seconds` (calls made with the secret end after that long), checked
/// field by field so a bad request is told which field is wrong.
struct ClientSecretRequest: Equatable {
    /// The longest call limit a secret may carry: a day.
    static let maxCallSecondsRange: ClosedRange<Double> = 1...86_400

    /// Why a request was refused: the field and what is wrong with it.
    struct Invalid: Error, Equatable {
        var code = "invalid_value"
        var param: String?
        var message: String
    }

    var lifetime: Int64 = ClientSecret.defaultLifetime
    var maxCallSeconds: UInt32?
    /// The session settings as sent (an object), checked as a `session.update` would be.
    var session: [String: JSONValue] = [:]

    init(body: [UInt8]) throws(Invalid) {
        let isBlank = body.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard !isBlank else { return }
        guard let decoded = try? JSONDecoder().decode(JSONValue.self, from: Data(body)), case .object(let fields) = decoded else {
            throw Invalid(code: "invalid_json", message: "the body must be a JSON object")
        }
        if let expiry = fields["expires_after"], expiry != .null {
            guard case .object = expiry else {
                throw Invalid(param: "expires_after", message: "expires_after must be an object {anchor, seconds}")
            }
            if let anchor = expiry["anchor"], anchor != .string("created_at") {
                throw Invalid(param: "expires_after.anchor", message: "expires_after.anchor must be \"created_at\"")
            }
            if let seconds = expiry["seconds"] {
                let range = ClientSecret.lifetimeRange
                guard let value = seconds.numberValue, value.rounded() == value, value >= Double(range.lowerBound), value <= Double(range.upperBound) else {
                    throw Invalid(param: "expires_after.seconds",
                                  message: "expires_after.seconds must be a whole number of seconds within \(range.lowerBound)…\(range.upperBound)")
                }
                lifetime = Int64(value)
            }
        }
        if let limit = fields["max_call_seconds"], limit != .null {
            guard let value = limit.numberValue, value.rounded() == value, Self.maxCallSecondsRange.contains(value) else {
                throw Invalid(param: "max_call_seconds", message: "max_call_seconds must be a whole number within 1…86400")
            }
            maxCallSeconds = UInt32(value)
        }
        if let settings = fields["session"], settings != .null {
            guard case .object(let object) = settings else {
                throw Invalid(param: "session", message: "session must be a JSON object")
            }
            var check = RealtimeSession(id: "sess_check")
            do {
                try check.apply(settings)
            } catch {
                throw Invalid(param: error.param, message: error.message)
            }
            session = object
        }
    }

    /// The secret this request asks for, minted at `now` (Unix seconds); nil when its
    /// session does not fit in a secret.
    func secret(now: Int64) -> ClientSecret? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let json = try? encoder.encode(JSONValue.object(session)), json.count <= ClientSecret.maxSessionBytes else { return nil }
        return ClientSecret(issuedAt: now, expiresAt: now + lifetime, maxCallSeconds: maxCallSeconds, session: Array(json))
    }
}
