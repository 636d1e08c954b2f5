import Logging
import NIOPosix
import ParleyEndpoint
import ParleyTransceiver
import ParleyWire
import Testing

/// Pins how signaling spreads calls over shards and finds them again.
@Suite struct ShardedEngineTests {
    static func makeEngine(shards: Int, maxSessions: Int = 10) throws -> MediaEngine {
        let group = MultiThreadedEventLoopGroup.singleton
        return try MediaEngine(
            configuration: TransceiverConfiguration(
                udpAddress: PeerAddress("127.0.0.1:0")!, shards: shards,
                advertisedAddresses: [PeerAddress("127.0.0.1:3478")!], maxSessions: maxSessions),
            metrics: TransceiverMetrics(),
            eventLoops: (0..<shards).map { _ in group.next() },
            logger: Logger(label: "test"))
    }

    @Test func callsGoToTheLeastLoadedShardAndEndWhereTheyLive() async throws {
        let engine = try Self.makeEngine(shards: 2)
        var ids: [SessionID] = []
        for _ in 0..<4 {
            ids.append(try await engine.createCall(offerSDP: try SignalingAPITests.clientOffer()).id)
        }
        #expect(await engine.sessionsByShard == [2, 2])
        let exposition = engine.metrics.exposition()
        #expect(exposition.contains(#"parley_shard_sessions{shard="0"} 2"#))
        #expect(exposition.contains(#"parley_shard_sessions{shard="1"} 2"#))
        #expect(exposition.contains("parley_sessions 4"))

        #expect(await engine.endCall(ids[1]))
        #expect(await engine.sessionsByShard == [2, 1])
        // The next call fills the gap.
        ids.append(try await engine.createCall(offerSDP: try SignalingAPITests.clientOffer()).id)
        #expect(await engine.sessionsByShard == [2, 2])
        // An ended id is still found (on whichever shard it lived), an unknown one is not.
        #expect(await engine.endCall(ids[1]))
        #expect(!(await engine.endCall(SessionID(rawValue: "rtc_000000000000000000000000")!)))
        for id in ids { _ = await engine.endCall(id) }
        #expect(await engine.sessionCount == 0)
        #expect(engine.metrics.exposition().contains("parley_sessions 0"))
    }

    @Test func maxSessionsCountsEveryShard() async throws {
        let engine = try Self.makeEngine(shards: 2, maxSessions: 3)
        for _ in 0..<3 {
            _ = try await engine.createCall(offerSDP: try SignalingAPITests.clientOffer())
        }
        await #expect(throws: CallSetupError.self) {
            _ = try await engine.createCall(offerSDP: try SignalingAPITests.clientOffer())
        }
        #expect(await engine.sessionCount == 3)
    }
}
