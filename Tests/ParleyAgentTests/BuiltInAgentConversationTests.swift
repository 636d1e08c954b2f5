import ParleyAgent
import Testing

/// `conversation.item.create`: items are checked, given ids, kept (the latest 64) and echoed
/// with `conversation.item.added` and `conversation.item.done`, as the Realtime API does.
@Suite struct BuiltInAgentConversationTests {
    @Test func aMessageIsEchoedWithAnIDAndItsPredecessor() throws {
        var agent = BuiltInAgent()
        let first = try agent.client(#"{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}}"#)
        #expect(first.types == ["conversation.item.added", "conversation.item.done"])
        let added = try #require(first.event("conversation.item.added"))
        let id = try #require(added["item"]?["id"]?.stringValue)
        #expect(added["previous_item_id"] == .null)
        #expect(added["item"]?["content"] == [["type": "input_text", "text": "hi"]])
        #expect(added["item"]?["object"] == "realtime.item" && added["item"]?["status"] == "completed")
        #expect(first.event("conversation.item.done")?["item"] == added["item"])

        let second = try agent.client(#"{"type":"conversation.item.create","item":{"id":"out_1","type":"function_call_output","call_id":"call_9","output":"{\"ok\":true}"}}"#)
        #expect(second.event("conversation.item.added")?["previous_item_id"] == .string(id))
        #expect(second.event("conversation.item.added")?["item"]?["id"] == "out_1")
        #expect(second.event("conversation.item.added")?["item"]?["call_id"] == "call_9")
        #expect(agent.conversation.items.map { $0["id"]?.stringValue } == [id, "out_1"])
    }

    @Test func audioDataIsKeptOutOfTheEchoAndTheConversation() throws {
        var agent = BuiltInAgent()
        let actions = try agent.client(#"{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_audio","audio":"AAAA","transcript":"hello"}]}}"#)
        let content = actions.event("conversation.item.added")?["item"]?["content"]
        #expect(content == [["type": "input_audio", "transcript": "hello"]])
        #expect(agent.conversation.lastItem?["content"] == content)
    }

    @Test func previousItemIDPlacesTheItem() throws {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"conversation.item.create","item":{"id":"a","type":"message","role":"system","content":[{"type":"input_text","text":"be brief"}]}}"#)
        _ = try agent.client(#"{"type":"conversation.item.create","item":{"id":"c","type":"message","role":"assistant","content":[{"type":"output_text","text":"ok"}]}}"#)
        let middle = try agent.client(#"{"type":"conversation.item.create","previous_item_id":"a","item":{"id":"b","type":"message","role":"user","content":[]}}"#)
        #expect(middle.event("conversation.item.added")?["previous_item_id"] == "a")
        let root = try agent.client(#"{"type":"conversation.item.create","previous_item_id":"root","item":{"id":"r","type":"function_call","name":"lookup","arguments":"{}","call_id":"call_1"}}"#)
        #expect(root.event("conversation.item.added")?["previous_item_id"] == .null)
        #expect(agent.conversation.items.map { $0["id"]?.stringValue } == ["r", "a", "b", "c"])
    }

    static let malformed: [(String, String)] = [
        (#"{"type":"conversation.item.create","event_id":"e1"}"#, "item"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":[1]}"#, "item"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"role":"user","content":[]}}"#, "item.type"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"type":"mcp_call","id":"m"}}"#, "item.type"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"type":"function_call_output","output":"x"}}"#, "item.call_id"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"type":"function_call_output","call_id":"","output":"x"}}"#, "item.call_id"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"type":"function_call_output","call_id":"c","output":{"ok":1}}}"#, "item.output"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"type":"function_call","arguments":"{}"}}"#, "item.name"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"type":"message","role":"robot","content":[]}}"#, "item.role"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"type":"message","role":"user","content":"hi"}}"#, "item.content"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"type":"message","role":"user","content":[{"type":"output_text","text":"x"}]}}"#, "item.content[0].type"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"type":"message","role":"system","content":[{"type":"input_text","text":3}]}}"#, "item.content[0].text"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"id":7,"type":"message","role":"user","content":[]}}"#, "item.id"),
        (#"{"type":"conversation.item.create","event_id":"e1","item":{"id":"old","type":"message","role":"user","content":[]}}"#, "item.id"),
        (#"{"type":"conversation.item.create","event_id":"e1","previous_item_id":"nowhere","item":{"type":"message","role":"user","content":[]}}"#, "previous_item_id"),
        (#"{"type":"conversation.item.create","event_id":"e1","previous_item_id":4,"item":{"type":"message","role":"user","content":[]}}"#, "previous_item_id"),
    ]

    @Test(arguments: malformed)
    func aMalformedItemIsRefusedByNameAndNotKept(json: String, param: String) throws {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"conversation.item.create","item":{"id":"old","type":"message","role":"user","content":[]}}"#)
        let before = agent.conversation
        let actions = try agent.client(json)
        #expect(actions.types == ["error"])
        #expect(actions.errorParam == param)
        #expect(actions.event("error")?["error"]?["event_id"] == "e1")
        #expect(agent.conversation == before)
    }

    @Test func theConversationKeepsItsLatestItems() throws {
        var agent = BuiltInAgent()
        for index in 0..<(RealtimeConversation.capacity + 6) {
            _ = try agent.client(#"{"type":"conversation.item.create","item":{"id":"i\#(index)","type":"message","role":"user","content":[]}}"#)
        }
        #expect(agent.conversation.items.count == RealtimeConversation.capacity)
        #expect(agent.conversation.items.first?["id"] == "i6")
        #expect(agent.conversation.lastItem?["id"] == .string("i\(RealtimeConversation.capacity + 5)"))
    }

    @Test func aTurnBecomesAUserItemAfterTheLatestItem() throws {
        var agent = BuiltInAgent()
        _ = try agent.client(#"{"type":"conversation.item.create","item":{"id":"sys","type":"message","role":"system","content":[]}}"#)
        let actions = agent.hear(Signal.noise(dBFS: -60, frames: 20) + Signal.tone(dBFS: -20, frames: 30) + Signal.noise(dBFS: -60, frames: 30, seed: 4))
        let committed = try #require(actions.event("input_audio_buffer.committed"))
        #expect(committed["previous_item_id"] == "sys")
        #expect(committed["item_id"] == actions.event("input_audio_buffer.speech_started")?["item_id"])
        #expect(agent.conversation.items.map(\.["id"]).contains(committed["item_id"]))
        let item = try #require(agent.conversation.items.first { $0["id"] == committed["item_id"] })
        #expect(item["role"] == "user" && item["content"]?.arrayFirstType == "input_audio")
    }
}

extension JSONValue {
    var arrayFirstType: String? {
        if case .array(let values) = self { values.first?["type"]?.stringValue } else { nil }
    }
}
