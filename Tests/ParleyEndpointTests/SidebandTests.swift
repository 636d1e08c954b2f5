import ParleyAgent
import ParleyEndpoint
import ParleyTestSupport
import ParleyWire
import Testing

/// A sideband on a live call, at the endpoint: it starts from the session as it stands, sees
/// each server event the caller is sent with the same `event_id`, and its client events act
/// on the call as the caller's would. And a call made with a time limit ends at it, as does
/// one still live when a draining transceiver's deadline passes.
@Suite struct SidebandTests {
    static let caller = PeerAddress("203.0.113.9:41000")!

    static func mirrored(_ harness: EndpointHarness, _ id: SessionID) -> [RealtimeEvent] {
        harness.endpoint.events.compactMap {
            if case .serverEvent(let call, let event) = $0, call == id { event } else { nil }
        }
    }

    @Test func aSidebandSeesTheCallersEventsAndActsOnTheCall() throws {
        let backend = ScriptedBackend()
        let (harness, client) = try ConversationControlTests.connectedCall(backend: backend)
        let id = client.answer.id
        #expect(harness.endpoint.endpoint.attachSideband(SessionID(rawValue: "rtc_000000000000000000000000")!) == nil)
        let created = try #require(harness.endpoint.endpoint.attachSideband(id))
        #expect(created.type == "session.created" && created["event_id"] != nil)

        // The sideband changes the instructions: the backend gets the merged session and
        // both the caller and the sideband see the same session.updated.
        #expect(harness.endpoint.endpoint.receiveClientEvent(
            RealtimeEvent(type: "session.update", fields: ["session": ["instructions": "Answer in French."]]), for: id, now: harness.now))
        #expect(backend.received.last?["session"]?["instructions"] == "Answer in French.")
        backend.report(RealtimeEvent(type: "session.updated", fields: ["session": ["voice_settled": true]]))
        harness.endpoint.endpoint.wakeCall(id, now: harness.now)
        #expect(harness.run(until: { !client.events(ofType: "session.updated").isEmpty }, limit: .seconds(1)))
        harness.endpoint.pollEvents()
        let toCaller = try #require(client.events(ofType: "session.updated").first?.event)
        let toSideband = Self.mirrored(harness, id)
        #expect(toSideband.contains(toCaller))
        #expect(toCaller["session"]?["instructions"] == "Answer in French.")

        // A backend's response is mirrored as it goes out; after detaching nothing more is.
        backend.play("resp_1", frames: 5)
        backend.finish("resp_1")
        harness.endpoint.endpoint.wakeCall(id, now: harness.now)
        #expect(harness.run(until: { !client.events(ofType: "output_audio_buffer.stopped").isEmpty }, limit: .seconds(2)))
        harness.endpoint.pollEvents()
        let types = Self.mirrored(harness, id).map(\.type)
        #expect(types.contains("response.created") && types.contains("output_audio_buffer.started") && types.contains("output_audio_buffer.stopped"))
        let count = Self.mirrored(harness, id).count
        harness.endpoint.endpoint.detachSideband(id)
        backend.play("resp_2", frames: 2)
        harness.endpoint.endpoint.wakeCall(id, now: harness.now)
        _ = harness.run(until: { false }, limit: .milliseconds(200))
        harness.endpoint.pollEvents()
        #expect(Self.mirrored(harness, id).count == count)
    }

    @Test func aCallEndsAtItsTimeLimitAndTheCallerIsToldWhy() throws {
        let harness = try EndpointHarness(seed: 5)
        let start = harness.now
        let client = try harness.call(from: Self.caller, events: true, maxDuration: .seconds(3))
        #expect(harness.run(until: { client.hasEventsChannel }, limit: .seconds(2)))
        #expect(harness.endpoint.endedCalls.isEmpty)
        #expect(harness.run(until: { !harness.endpoint.endedCalls.isEmpty }, limit: .seconds(5)))
        #expect(harness.endpoint.endedCalls.map(\.1) == ["time_limit"])
        #expect(harness.now - start >= .seconds(3))
        #expect(client.events(ofType: "error").first?.event["error"]?["code"] == "call_time_limit")
    }

    @Test func aCallLiveAtTheDrainDeadlineIsEndedToldWhyAndCounted() throws {
        let harness = try EndpointHarness(seed: 6)
        let client = try harness.call(from: Self.caller, events: true)
        #expect(harness.run(until: { client.hasEventsChannel }, limit: .seconds(2)))
        harness.endpoint.endpoint.drain()
        _ = harness.run(until: { false }, limit: .milliseconds(500))
        #expect(harness.endpoint.endedCalls.isEmpty)  // draining alone ends nothing
        #expect(harness.endpoint.endpoint.endCallsAtDrainDeadline(now: harness.now) == 1)
        #expect(harness.run(until: { !harness.endpoint.endedCalls.isEmpty }, limit: .seconds(2)))
        #expect(harness.endpoint.endedCalls.map(\.1) == ["drain_deadline"])
        #expect(client.events(ofType: "error").first?.event["error"]?["code"] == "server_shutting_down")
    }
}
