import Foundation
import ParleyAgent
import ParleyEndpoint
import ParleyTestSupport
import ParleyWire
import Testing

/// A backend that plays what the test scripts and ignores every client event (it only
/// records them): the edge has to enforce the caller's interruptions by itself.
final class ScriptedBackend: CallBackend {
    private var outputs = FIFO<BackendOutput>()
    private(set) var received: [RealtimeEvent] = []
    /// `parley.call.connected`, `parley.link.stats`: what the edge told of the call.
    private(set) var edgeEvents: [RealtimeEvent] = []

    /// `frames` of 20 ms of a 300 Hz tone for `responseID`, announced by `response.created`
    /// the first time.
    func play(_ responseID: String, frames: Int, announce: Bool = true) {
        if announce {
            outputs.append(.event(RealtimeEvent(type: "response.created", fields: ["response": ["id": .string(responseID)]])))
        }
        for frame in 0..<frames {
            outputs.append(.audio((0..<480).map { Int16(6_000 * sin(2 * Double.pi * 300 * Double(frame * 480 + $0) / 24_000)) },
                                  responseID: responseID))
        }
    }

    /// `parley.call.end`: the call ends once what is queued has played.
    func endCall() {
        outputs.append(.endCall(reason: "goodbye"))
        // ... and closes its socket right after, as a backend may.
        outputs.append(.failed(reason: "the backend closed the connection"))
    }

    /// The runtime found the backend stopped reading.
    func becomeUnresponsive() {
        outputs.append(.unresponsive(reason: "the backend answered no WebSocket ping for 5 s"))
    }

    /// An event of the backend's own, such as its `session.updated`.
    func report(_ event: RealtimeEvent) {
        outputs.append(.event(event))
    }

    /// The end-of-response marker of the backend protocol.
    func finish(_ responseID: String) {
        outputs.append(.event(RealtimeEvent(type: "response.done", fields: ["response": ["id": .string(responseID), "status": "completed"]])))
    }

    func receiveAudio(_ frame: [Int16], mediaTime: UInt32) {}
    func receiveClientEvent(_ event: RealtimeEvent) { received.append(event) }
    func receiveEdgeEvent(_ event: RealtimeEvent) { edgeEvents.append(event) }
    func outputStopped(responseID: String?) {}
    func outputCleared(responseID: String?, playedMilliseconds: Int) {}
    func pollOutput() -> BackendOutput? { outputs.popFirst() }
    func close() {}
}

/// The Realtime event vocabulary as the edge speaks it on `oai-events`, with Parley's client
/// role opening the channel on the simulated network: the session events, and playback
/// control the edge enforces whatever the backend does.
@Suite struct ConversationControlTests {
    static let caller = PeerAddress("203.0.113.7:41000")!

    static func connectedCall(backend: (any CallBackend)? = nil) throws -> (EndpointHarness, ClientHost) {
        let harness = try EndpointHarness(seed: 31)
        let client = try harness.call(from: caller, events: true, backend: backend)
        #expect(harness.run(until: { client.hasEventsChannel && !client.serverEvents.isEmpty }, limit: .seconds(3)))
        return (harness, client)
    }

    @Test func sessionCreatedComesFirstAndUpdatesReturnTheWholeMergedSession() throws {
        let (harness, client) = try Self.connectedCall()
        #expect(client.serverEvents.first?.event.type == "session.created")
        let created = try #require(client.serverEvents.first?.event["session"])

        try client.send(RealtimeEvent(type: "session.update", fields: ["event_id": "evt_1", "session": [
            "instructions": "Be brief.", "x_custom": ["kept": true],
            "audio": ["input": ["turn_detection": ["silence_duration_ms": 700]]],
        ]]), now: harness.now)
        #expect(harness.run(until: { !client.events(ofType: "session.updated").isEmpty }, limit: .seconds(1)))
        let updated = try #require(client.events(ofType: "session.updated").first?.event["session"])
        #expect(updated["instructions"] == "Be brief." && updated["x_custom"] == ["kept": true])
        #expect(updated["audio"]?["input"]?["turn_detection"]?["silence_duration_ms"] == 700)
        #expect(updated["audio"]?["input"]?["turn_detection"]?["threshold"] == 0.5)
        #expect(updated["id"] == created["id"])

        try client.send(RealtimeEvent(type: "session.update", fields: ["event_id": "evt_2", "session": [
            "audio": ["input": ["turn_detection": ["threshold": 3]]],
        ]]), now: harness.now)
        #expect(harness.run(until: { !client.events(ofType: "error").isEmpty }, limit: .seconds(1)))
        let error = try #require(client.events(ofType: "error").first?.event["error"])
        #expect(error["param"] == "session.audio.input.turn_detection.threshold" && error["event_id"] == "evt_2")
        #expect(client.events(ofType: "session.updated").count == 1)

        let ids = client.serverEvents.compactMap { $0.event["event_id"]?.stringValue }
        #expect(ids.count == client.serverEvents.count && Set(ids).count == ids.count)
    }

    @Test(arguments: ["output_audio_buffer.clear", "response.cancel"])
    func aCallersInterruptionStopsABackendThatIgnoresIt(_ interruption: String) throws {
        let backend = ScriptedBackend()
        let (harness, client) = try Self.connectedCall(backend: backend)
        backend.play("resp_1", frames: 250)
        harness.endpoint.endpoint.wakeCall(client.answer.id, now: harness.now)
        #expect(harness.run(until: { client.audioArrivals.count >= 25 }, limit: .seconds(2)))

        let interruptedAt = harness.now
        try client.send(RealtimeEvent(type: interruption), now: interruptedAt)
        harness.advance(to: interruptedAt + .milliseconds(500))
        // The backend got the event and did nothing; the edge stopped the audio within a frame.
        #expect(backend.received.map(\.type).contains(interruption))
        let lastAudio = try #require(client.audioArrivals.last)
        #expect(lastAudio <= interruptedAt + .milliseconds(40), "\(lastAudio - interruptedAt)")
        let cleared = try #require(client.events(ofType: "output_audio_buffer.cleared").first?.event)
        #expect(cleared["response_id"] == "resp_1")
        let played = try #require(cleared["played_ms"]?.numberValue)
        #expect(played >= 480 && played <= 540, "\(played)")

        // More of the cancelled response is dropped on arrival; a new response plays.
        let heardBefore = client.audioArrivals.count
        backend.play("resp_1", frames: 50, announce: false)
        harness.endpoint.endpoint.wakeCall(client.answer.id, now: harness.now)
        harness.advance(to: harness.now + .milliseconds(300))
        #expect(client.audioArrivals.count == heardBefore)
        backend.play("resp_2", frames: 10)
        harness.endpoint.endpoint.wakeCall(client.answer.id, now: harness.now)
        harness.advance(to: harness.now + .milliseconds(300))
        #expect(client.audioArrivals.count >= heardBefore + 10)
    }

    @Test func oneStartedAndStoppedPerResponseAcrossAnUnderrun() throws {
        let backend = ScriptedBackend()
        let (harness, client) = try Self.connectedCall(backend: backend)
        func wake() { harness.endpoint.endpoint.wakeCall(client.answer.id, now: harness.now) }

        // 200 ms of audio, 600 ms of nothing (the backend is slow), 200 ms more, then done.
        backend.play("resp_1", frames: 10)
        wake()
        harness.advance(to: harness.now + .milliseconds(800))
        backend.play("resp_1", frames: 10, announce: false)
        backend.finish("resp_1")
        wake()
        harness.advance(to: harness.now + .milliseconds(600))
        #expect(client.events(ofType: "output_audio_buffer.started").map(\.event["response_id"]) == ["resp_1"])
        let stopped = client.events(ofType: "output_audio_buffer.stopped")
        #expect(stopped.map(\.event["response_id"]) == ["resp_1"])
        // It stops once its last frame has played, not long after.
        if let stoppedAt = stopped.first?.at, let lastAudio = client.audioArrivals.last {
            #expect(stoppedAt >= lastAudio && stoppedAt <= lastAudio + .milliseconds(40))
        }
        #expect(client.audioArrivals.count == 20)

        // played_ms counts the whole response, across its underrun.
        backend.play("resp_2", frames: 10)
        wake()
        harness.advance(to: harness.now + .milliseconds(800))
        backend.play("resp_2", frames: 5, announce: false)
        wake()
        harness.advance(to: harness.now + .milliseconds(200))
        try client.send(RealtimeEvent(type: "output_audio_buffer.clear"), now: harness.now)
        harness.advance(to: harness.now + .milliseconds(100))
        let cleared = try #require(client.events(ofType: "output_audio_buffer.cleared").first?.event)
        #expect(cleared["response_id"] == "resp_2" && cleared["played_ms"] == 300)
        #expect(client.events(ofType: "output_audio_buffer.started").count == 2)
    }
}
