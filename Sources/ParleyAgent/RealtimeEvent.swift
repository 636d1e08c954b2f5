import Foundation

/// One event of the Realtime API's vocabulary (`session.update`, `input_audio_buffer.*`,
/// `response.*`, `output_audio_buffer.*`, `error`), as carried on the `oai-events` data
/// channel and on the backend protocol: a JSON object with a `type` and fields by type.
public struct RealtimeEvent: Sendable, Hashable {
    public var type: String
    /// Every field but `type`.
    public var fields: [String: JSONValue]

    public init(type: String, fields: [String: JSONValue] = [:]) {
        self.type = type
        self.fields = fields
    }

    public subscript(key: String) -> JSONValue? {
        get { fields[key] }
        set { fields[key] = newValue }
    }

    /// Why bytes are not an event, for the `error` event sent back.
    public enum DecodingError: Error, Sendable, Equatable, CustomStringConvertible {
        case notJSONObject
        case missingType
        case tooLarge(Int)

        public var description: String {
            switch self {
            case .notJSONObject: return "the message is not a JSON object"
            case .missingType: return "the event has no string \"type\""
            case .tooLarge(let size): return "the event is \(size) bytes; the limit is \(RealtimeEvent.maxEncodedSize)"
            }
        }
    }

    /// Larger events are refused (a data-channel message can be 256 KiB; events are small).
    public static let maxEncodedSize = 256 * 1_024

    public init(json bytes: some Collection<UInt8>) throws(DecodingError) {
        guard bytes.count <= Self.maxEncodedSize else { throw .tooLarge(bytes.count) }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)),
              case .object(var fields) = value else { throw .notJSONObject }
        guard case .string(let type)? = fields.removeValue(forKey: "type") else { throw .missingType }
        self.init(type: type, fields: fields)
    }

    public func encodedJSON() -> [UInt8] {
        var object = fields
        object["type"] = .string(type)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(JSONValue.object(object)))) ?? Array(#"{"type":"error"}"#.utf8)
    }

    /// An `error` event (Realtime API shape: `error.type`, `error.code`, `error.message`),
    /// naming the offending field of the client event in `error.param` and the client's
    /// `event_id` when given.
    public static func error(code: String, message: String, param: String? = nil, eventID: String? = nil) -> RealtimeEvent {
        var error: [String: JSONValue] = ["type": "invalid_request_error", "code": .string(code), "message": .string(message)]
        if let param { error["param"] = .string(param) }
        if let eventID { error["event_id"] = .string(eventID) }
        return RealtimeEvent(type: "error", fields: ["error": .object(error)])
    }
}
