import ParleyAgent
import ParleyEndpoint
import ParleyTestSupport
import ParleyWire
import Testing

/// What backend protocol v2 adds at the call: the backend learns the caller's path and gets
/// link statistics while media flows, and may end the call cleanly after its last words.
@Suite struct BackendProtocolTests {
    @Test func theBackendLearnsThePathAndGetsLinkStatistics() throws {
        let backend = ScriptedBackend()
        let harness = try EndpointHarness(seed: 17)
        // The caller speaks (a tone) so that there is audio to measure.
        _ = try harness.call(from: ConversationControlTests.caller, tone: 440, events: true, backend: backend)
        #expect(harness.run(until: { !backend.edgeEvents.isEmpty }, limit: .seconds(2)))
        let connected = try #require(backend.edgeEvents.first)
        #expect(connected.type == "parley.call.connected")
        #expect(connected["address_family"] == "ipv4" && connected["via_relay"] == false && connected["transport"] == "udp")
        #expect(backend.edgeEvents.filter { $0.type == "parley.link.stats" }.isEmpty)
        // The caller's audio flows; every 5 s the backend gets the link as the edge sees it.
        #expect(harness.run(until: { backend.edgeEvents.filter { $0.type == "parley.link.stats" }.count >= 2 }, limit: .seconds(11)))
        let stats = try #require(backend.edgeEvents.last { $0.type == "parley.link.stats" })
        #expect((stats["packets_received"]?.numberValue ?? 0) > 100)
        #expect(stats["packets_lost"] == 0)
        #expect(stats["jitter_ms"]?.numberValue != nil)
    }

    @Test func aBackendEndsTheCallCleanlyAfterItsQueuedAudio() throws {
        let backend = ScriptedBackend()
        let (harness, client) = try ConversationControlTests.connectedCall(backend: backend)
        let id = client.answer.id
        backend.play("resp_bye", frames: 25)
        backend.finish("resp_bye")
        backend.endCall()
        let asked = harness.now
        harness.endpoint.endpoint.wakeCall(id, now: harness.now)
        #expect(harness.run(until: { !harness.endpoint.endedCalls.isEmpty }, limit: .seconds(3)))
        #expect(harness.endpoint.endedCalls.map(\.1) == ["backend_ended"])
        // The goodbye (25 frames, 500 ms) played out first; the caller got no error.
        #expect(harness.now - asked >= .milliseconds(480))
        #expect(client.events(ofType: "output_audio_buffer.stopped").count == 1)
        #expect(client.events(ofType: "error").isEmpty)
    }

    @Test func anUnresponsiveBackendEndsTheCallWithItsOwnCode() throws {
        let backend = ScriptedBackend()
        let (harness, client) = try ConversationControlTests.connectedCall(backend: backend)
        backend.becomeUnresponsive()
        harness.endpoint.endpoint.wakeCall(client.answer.id, now: harness.now)
        #expect(harness.run(until: { !harness.endpoint.endedCalls.isEmpty }, limit: .seconds(1)))
        #expect(harness.endpoint.endedCalls.map(\.1) == ["backend_unresponsive"])
        #expect(client.events(ofType: "error").compactMap { $0.event["error"]?["code"]?.stringValue } == ["backend_unresponsive"])
    }

    /// A backend far faster than real time: the call's output holds `playoutCapacity` frames,
    /// plays them one every 20 ms, and counts each older frame it had to drop.
    @Test func audioBeyondThePlayoutCapacityIsDroppedOldestFirstAndCounted() throws {
        let backend = ScriptedBackend()
        let harness = try EndpointHarness(seed: 31, playoutCapacity: 50)
        let client = try harness.call(from: ConversationControlTests.caller, events: true, backend: backend)
        #expect(harness.run(until: { client.hasEventsChannel && !client.serverEvents.isEmpty }, limit: .seconds(3)))
        backend.play("resp_long", frames: 80)
        backend.finish("resp_long")
        harness.endpoint.endpoint.wakeCall(client.answer.id, now: harness.now)
        #expect(harness.run(until: { !client.events(ofType: "output_audio_buffer.stopped").isEmpty }, limit: .seconds(3)))
        #expect(harness.endpoint.drops.filter { $0 == "playout_overflow" }.count == 30)
    }
}
