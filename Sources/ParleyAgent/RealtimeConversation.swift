/// The built-in agent's conversation (the Realtime API's default conversation): its latest
/// items as the client was told of them (`conversation.item.added`, `input_audio_buffer.committed`,
/// `response.done`), without audio data, oldest first and capped at `capacity`.
public struct RealtimeConversation: Sendable, Equatable {
    /// Items kept; older ones are forgotten (the agent has no model context to fill).
    public static let capacity = 64

    /// The items, oldest first, as `conversation.item.added` showed them (no audio data).
    public private(set) var items: [JSONValue] = []

    public init() {}

    /// The latest item, which the tool rules of `BuiltInAgent` look at.
    public var lastItem: JSONValue? { items.last }

    /// Inserts an item that passed `checkedItem`, after the item `previousItemID` names
    /// (`nil`: at the end; `"root"`: first), as `conversation.item.create` does. Returns the
    /// id of the item now before it, for `previous_item_id`.
    mutating func insert(_ item: [String: JSONValue], after previousItemID: String? = nil) throws(ClientEventRefusal) -> String? {
        if let id = item["id"]?.stringValue, index(of: id) != nil {
            throw ClientEventRefusal(param: "item.id", "an item with id \"\(id)\" is already in the conversation")
        }
        let position: Int
        switch previousItemID {
        case nil:
            position = items.count
        case "root"?:
            position = 0
        case let id?:
            guard let index = index(of: id) else {
                throw ClientEventRefusal(param: "previous_item_id", "no item with id \"\(id)\" in the conversation")
            }
            position = index + 1
        }
        items.insert(.object(item), at: position)
        let previous = position > 0 ? items[position - 1]["id"]?.stringValue : nil
        if items.count > Self.capacity { items.removeFirst(items.count - Self.capacity) }
        return previous
    }

    /// Puts `item` in the place of the item with its id, if that is still kept (an item the
    /// agent makes is added `in_progress` and replaced when done or cut short).
    mutating func replace(_ item: [String: JSONValue]) {
        guard let id = item["id"]?.stringValue, let index = index(of: id) else { return }
        items[index] = .object(item)
    }

    private func index(of id: String) -> Int? {
        items.lastIndex { $0["id"]?.stringValue == id }
    }

    // MARK: Checks

    /// Content types a message may carry, by role (the GA names, and the beta `text` and
    /// `audio` of assistant messages).
    static let contentTypes: [String: Set<String>] = [
        "user": ["input_text", "input_audio", "input_image"],
        "system": ["input_text"],
        "assistant": ["output_text", "output_audio", "text", "audio"],
    ]

    /// The item of a `conversation.item.create`, checked and made ready to keep and echo:
    /// `object` and `status` filled in, audio data left out (the Realtime API does not echo
    /// it either). An `id` is not assigned here.
    static func checkedItem(_ value: JSONValue?) throws(ClientEventRefusal) -> [String: JSONValue] {
        guard let value else { throw ClientEventRefusal(code: "missing_required_parameter", param: "item", "the event has no \"item\"") }
        guard case .object(var item) = value else { throw ClientEventRefusal(param: "item", "item must be a JSON object") }
        if let id = item["id"], id.stringValue?.isEmpty != false {
            throw ClientEventRefusal(param: "item.id", "item.id must be a non-empty string")
        }
        guard let typeValue = item["type"] else {
            throw ClientEventRefusal(code: "missing_required_parameter", param: "item.type", "the item has no \"type\"")
        }
        switch typeValue.stringValue {
        case "message"?:
            item["content"] = .array(try checkedContent(of: item))
        case "function_call_output"?:
            try requireString("call_id", in: item, nonEmpty: true)
            try requireString("output", in: item)
        case "function_call"?:
            try requireString("name", in: item, nonEmpty: true)
            try requireString("arguments", in: item)
            if item["call_id"] != nil { try requireString("call_id", in: item, nonEmpty: true) }
        default:
            throw ClientEventRefusal(param: "item.type", "item.type must be \"message\", \"function_call\" or \"function_call_output\" (other items are not supported by the built-in agent)")
        }
        if let status = item["status"], !["completed", "incomplete", "in_progress"].contains(status.stringValue ?? "") {
            throw ClientEventRefusal(param: "item.status", "item.status must be \"completed\", \"incomplete\" or \"in_progress\"")
        }
        item["object"] = "realtime.item"
        if item["status"] == nil { item["status"] = "completed" }
        return item
    }

    private static func checkedContent(of item: [String: JSONValue]) throws(ClientEventRefusal) -> [JSONValue] {
        guard let role = item["role"]?.stringValue, let allowed = contentTypes[role] else {
            throw ClientEventRefusal(param: "item.role", "item.role must be \"user\", \"system\" or \"assistant\"")
        }
        guard case .array(var content)? = item["content"] else {
            throw ClientEventRefusal(param: "item.content", "item.content must be an array")
        }
        for (index, part) in content.enumerated() {
            let param = "item.content[\(index)]"
            guard case .object(var fields) = part else { throw ClientEventRefusal(param: param, "\(param) must be a JSON object") }
            guard let type = fields["type"]?.stringValue, allowed.contains(type) else {
                throw ClientEventRefusal(param: "\(param).type", "\(param).type must be one of \(allowed.sorted().joined(separator: ", ")) in a \(role) message")
            }
            for key in ["text", "transcript", "audio"] where fields[key] != nil && fields[key] != .null && fields[key]?.stringValue == nil {
                throw ClientEventRefusal(param: "\(param).\(key)", "\(param).\(key) must be a string")
            }
            fields["audio"] = nil
            content[index] = .object(fields)
        }
        return content
    }

    private static func requireString(_ key: String, in item: [String: JSONValue], nonEmpty: Bool = false) throws(ClientEventRefusal) {
        guard let value = item[key] else {
            throw ClientEventRefusal(code: "missing_required_parameter", param: "item.\(key)", "a \(item["type"]?.stringValue ?? "") item needs \"\(key)\"")
        }
        guard let string = value.stringValue, !(nonEmpty && string.isEmpty) else {
            throw ClientEventRefusal(param: "item.\(key)", "item.\(key) must be a\(nonEmpty ? " non-empty" : "") string")
        }
    }
}
