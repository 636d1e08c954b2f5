import Foundation
import ParleyRelay
import ParleyRouting
import ParleyTestSupport
import ParleyWire
import Testing

@Suite("Relay forwarding on loopback")
struct RelayForwardingTests {
    @Test func tokenBearingBindingRequestOpensAFlowBothWays() async throws {
        let harness = try RelayHarness(workers: 2, pins: true)
        let client = TestUDPSocket()
        let request = bindingRequest(serverUfrag: harness.token())
        client.send(request, to: harness.relay.publicAddress)

        let relayed = try #require(await harness.transceiver.receive())
        let (clientAddress, _, payload) = try #require(RelayEncapsulation.parse(relayed.bytes))
        #expect(clientAddress == client.address)
        #expect(Array(payload) == request)
        #expect(harness.relay.internalAddresses.contains(relayed.source))

        // Later datagrams of the flow go through without being STUN.
        let media = mediaPacket(1)
        client.send(media, to: harness.relay.publicAddress)
        let second = try #require(await harness.transceiver.receive())
        #expect(RelayEncapsulation.parse(second.bytes).map { Array($0.payload) } == media)
        #expect(second.source == relayed.source)

        // The transceiver answers through the worker that sent it the flow.
        let reply = mediaPacket(2, length: 80)
        harness.transceiver.send(RelayEncapsulation.encapsulate(reply, client: client.address), to: relayed.source)
        let answer = try #require(await client.receive())
        #expect(answer.bytes == reply)
        #expect(answer.source == harness.relay.publicAddress)

        #expect(await harness.eventually {
            $0.forwarded(.clientToTransceiver) == 2 && $0.forwarded(.transceiverToClient) == 1
                && $0.flowsCreated(.token) == 1 && $0.flows == 1 && $0.droppedTotal == 0
        })
        await harness.relay.stop()
    }

    @Test func manyClientsSpreadOverWorkersEachGetTheirOwnReplies() async throws {
        let harness = try RelayHarness(workers: 2)
        let clients = (0..<8).map { _ in TestUDPSocket() }
        for (index, client) in clients.enumerated() {
            client.send(bindingRequest(serverUfrag: harness.token(seed: UInt64(index))), to: harness.relay.publicAddress)
        }
        var sources: [PeerAddress: PeerAddress] = [:]
        for _ in clients {
            let relayed = try #require(await harness.transceiver.receive())
            let client = try #require(RelayEncapsulation.parse(relayed.bytes)).client
            sources[client] = relayed.source
        }
        #expect(Set(sources.keys) == Set(clients.map(\.address)))
        for (index, client) in clients.enumerated() {
            let source = try #require(sources[client.address])
            harness.transceiver.send(RelayEncapsulation.encapsulate([UInt8(index)], client: client.address), to: source)
            #expect(await client.receive()?.bytes == [UInt8(index)])
        }
        await harness.relay.stop()
    }

    @Test func badTokensAndUnknownFlowsAreNeitherForwardedNorAnswered() async throws {
        let harness = try RelayHarness(workers: 2)
        let client = TestUDPSocket()
        let good = harness.token()
        var wrongMAC = Array(good.utf8)
        wrongMAC[wrongMAC.count - 1] = wrongMAC[wrongMAC.count - 1] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        var otherKeyGenerator = SeededGenerator(seed: 9)
        let otherKeyring = try RoutingKeyring(keys: [RoutingKey(id: 0, secret: Array(repeating: 7, count: 32))], signingKeyID: 0)
        let forged = RoutingToken.issue(transceiver: harness.transceiver.address, cluster: 0, keyring: otherKeyring,
                                        using: &otherKeyGenerator)
        let badUfrags = [String(decoding: wrongMAC, as: UTF8.self), forged, String(good.dropLast(4)), "plainufrag", ""]
        for ufrag in badUfrags {
            client.send(bindingRequest(serverUfrag: ufrag), to: harness.relay.publicAddress)
        }
        let truncatedRequest = Array(bindingRequest(serverUfrag: good).dropLast(9))
        client.send(truncatedRequest, to: harness.relay.publicAddress)
        client.send(mediaPacket(3), to: harness.relay.publicAddress)
        client.send([0x16, 0xFE, 0xFD, 0, 0], to: harness.relay.publicAddress)
        client.send([], to: harness.relay.publicAddress)
        // A Binding request without USERNAME, and one that claims to be relayed already.
        var generator = SeededGenerator(seed: 3)
        client.send(STUNMessage(class: .request, transactionID: .random(using: &generator)).encoded(integrityKey: nil, fingerprint: true),
                    to: harness.relay.publicAddress)
        client.send(RelayEncapsulation.encapsulate(bindingRequest(serverUfrag: good), client: client.address),
                    to: harness.relay.publicAddress)

        #expect(await harness.transceiver.staysSilent())
        #expect(await client.staysSilent(for: .milliseconds(50)))
        #expect(await harness.eventually {
            $0.dropped(.badToken) == 5 && $0.dropped(.notBindingRequest) == 2 && $0.dropped(.unknownFlow) == 4
        })
        let statistics = harness.relay.statistics()
        #expect(statistics.flows == 0)
        #expect(statistics.forwarded(.clientToTransceiver) == 0)
        #expect(statistics.received(.publicPort) == 11)
        await harness.relay.stop()
    }

    @Test func randomFloodsForwardNothing() async throws {
        let harness = try RelayHarness(workers: 2)
        let clients = (0..<4).map { _ in TestUDPSocket() }
        var generator = SeededGenerator(seed: 0x5EED)
        let valid = bindingRequest(serverUfrag: harness.token())
        for round in 0..<400 {
            var datagram: [UInt8]
            if round % 2 == 0 {
                datagram = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                // A valid request, cut short and with a few bytes flipped.
                datagram = Array(valid.prefix(Int.random(in: 0...valid.count, using: &generator)))
                for _ in 0..<3 where !datagram.isEmpty {
                    datagram[Int.random(in: 0..<datagram.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
                }
            }
            clients[round % clients.count].send(datagram, to: harness.relay.publicAddress)
        }
        #expect(await harness.transceiver.staysSilent())
        for client in clients {
            #expect(await client.staysSilent(for: .milliseconds(20)))
        }
        #expect(await harness.eventually { $0.received(.publicPort) == 400 && $0.droppedTotal == 400 })
        #expect(harness.relay.statistics().flows == 0)
        await harness.relay.stop()
    }

    @Test func returnTrafficNeedsTheFlowAndItsTransceiver() async throws {
        let harness = try RelayHarness(workers: 1)
        let client = TestUDPSocket()
        client.send(bindingRequest(serverUfrag: harness.token()), to: harness.relay.publicAddress)
        let relayed = try #require(await harness.transceiver.receive())

        let impostor = TestUDPSocket()
        impostor.send(RelayEncapsulation.encapsulate([1, 2, 3], client: client.address), to: relayed.source)
        let stranger = PeerAddress(ip: .v4(0x7F00_0001), port: 9)
        harness.transceiver.send(RelayEncapsulation.encapsulate([4, 5, 6], client: stranger), to: relayed.source)
        harness.transceiver.send([0x80, 0x6F, 0, 1], to: relayed.source)
        #expect(await client.staysSilent())
        #expect(await harness.eventually { $0.dropped(.noReturnFlow) == 2 && $0.dropped(.badEncapsulation) == 1 })
        #expect(harness.relay.statistics().forwarded(.transceiverToClient) == 0)
        await harness.relay.stop()
    }

    @Test func idleFlowsExpireAndBusyOnesStay() async throws {
        let harness = try RelayHarness(workers: 2, idleTimeout: .milliseconds(500), store: nil)
        let idle = TestUDPSocket()
        let busy = TestUDPSocket()
        // Real-time steps on a thread of their own, so a busy test executor cannot stretch them.
        let (opened, forwarded, expired) = await onOwnThread { () -> (Int, Int, Bool) in
            idle.send(bindingRequest(serverUfrag: harness.token(seed: 1)), to: harness.relay.publicAddress)
            busy.send(bindingRequest(serverUfrag: harness.token(seed: 2)), to: harness.relay.publicAddress)
            let opened = (0..<2).filter { _ in harness.transceiver.receiveBlocking() != nil }.count
            var forwarded = 0
            var expired = false
            for marker in 0..<40 where !expired || marker < 10 {
                busy.send(mediaPacket(UInt8(marker)), to: harness.relay.publicAddress)
                if harness.transceiver.receiveBlocking() != nil { forwarded += 1 }
                let statistics = harness.relay.statistics()
                expired = statistics.flows == 1 && statistics.flowsExpired == 1
                Thread.sleep(forTimeInterval: 0.1)
            }
            return (opened, forwarded, expired)
        }
        #expect(opened == 2)
        #expect(forwarded >= 10 && expired)
        #expect(harness.relay.statistics().dropped(.unknownFlow) == 0)

        // Expired: media of the idle client is dropped, not forwarded.
        idle.send(mediaPacket(99), to: harness.relay.publicAddress)
        #expect(await harness.transceiver.staysSilent())
        #expect(await harness.eventually { $0.dropped(.unknownFlow) == 1 })
        await harness.relay.stop()
    }

    @Test func newFlowsAreRateLimitedPerSourceAddress() async throws {
        let harness = try RelayHarness(workers: 1, newFlowsPerSecond: 0.001, newFlowBurst: 3)
        let clients = (0..<6).map { _ in TestUDPSocket() }
        for (index, client) in clients.enumerated() {
            client.send(bindingRequest(serverUfrag: harness.token(seed: UInt64(index))), to: harness.relay.publicAddress)
        }
        for _ in 0..<3 {
            #expect(await harness.transceiver.receive() != nil)
        }
        #expect(await harness.transceiver.staysSilent())
        #expect(await harness.eventually { $0.flowsCreated(.token) == 3 && $0.dropped(.rateLimited) == 3 })
        await harness.relay.stop()
    }

    @Test func flowTableCapRefusesNewFlows() async throws {
        let harness = try RelayHarness(workers: 1, maxFlowsPerWorker: 2)
        let clients = (0..<4).map { _ in TestUDPSocket() }
        for (index, client) in clients.enumerated() {
            client.send(bindingRequest(serverUfrag: harness.token(seed: UInt64(index))), to: harness.relay.publicAddress)
        }
        #expect(await harness.eventually { $0.flows == 2 && $0.dropped(.flowTableFull) == 2 })
        await harness.relay.stop()
    }

    @Test func aRestartedRelayRestoresFlowsFromTheStore() async throws {
        let store = MemoryFlowStore()
        let first = try RelayHarness(workers: 2, store: store)
        let client = TestUDPSocket()
        client.send(bindingRequest(serverUfrag: first.token()), to: first.relay.publicAddress)
        #expect(await first.transceiver.receive() != nil)
        var recorded: PeerAddress?
        for _ in 0..<200 where recorded == nil {
            recorded = try await store.lookup(client: client.address)
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(recorded == first.transceiver.address)
        await first.relay.stop()

        // A new relay process: same store, no flows. Media from the client is dropped until the
        // lookup comes back, then forwarded to the recorded transceiver.
        let second = try RelayHarness(workers: 2, store: store)
        var forwarded: (bytes: [UInt8], source: PeerAddress)?
        for attempt in 0..<50 where forwarded == nil {
            client.send(mediaPacket(UInt8(attempt)), to: second.relay.publicAddress)
            forwarded = await first.transceiver.receive(timeout: .milliseconds(40))
        }
        let relayed = try #require(forwarded)
        #expect(RelayEncapsulation.parse(relayed.bytes)?.client == client.address)
        #expect(second.relay.internalAddresses.contains(relayed.source))
        #expect(await second.eventually { $0.flowsCreated(.store) == 1 && $0.lookupsRequested >= 1 && $0.flowsCreated(.token) == 0 })

        // Replies flow back through the restored flow.
        first.transceiver.send(RelayEncapsulation.encapsulate([9, 9], client: client.address), to: relayed.source)
        #expect(await client.receive()?.bytes == [9, 9])
        await second.relay.stop()
    }

    @Test func forwardingGoesOnWhenTheFlowStoreFails() async throws {
        let harness = try RelayHarness(workers: 1, store: FailingFlowStore())
        let client = TestUDPSocket()
        client.send(bindingRequest(serverUfrag: harness.token()), to: harness.relay.publicAddress)
        #expect(await harness.transceiver.receive() != nil)
        client.send(mediaPacket(5), to: harness.relay.publicAddress)
        #expect(await harness.transceiver.receive() != nil)
        let stranger = TestUDPSocket()
        stranger.send(mediaPacket(6), to: harness.relay.publicAddress)
        #expect(await harness.transceiver.staysSilent(for: .milliseconds(100)))
        #expect(await harness.eventually { $0.lookupsRequested == 1 && $0.forwarded(.clientToTransceiver) == 2 })
        var exposition = ""
        for _ in 0..<100 where !exposition.contains(#"parley_relay_flow_store_requests_total{operation="lookup",result="error"} 1"#) {
            try await Task.sleep(for: .milliseconds(10))
            exposition = harness.relay.metricsExposition()
        }
        #expect(exposition.contains(#"parley_relay_flow_store_requests_total{operation="record",result="error"} 1"#))
        #expect(exposition.contains(#"parley_relay_flow_store_requests_total{operation="lookup",result="error"} 1"#))
        #expect(exposition.contains("parley_relay_flow_store_outages_total 1"))
        #expect(exposition.contains("parley_relay_flow_store_up 0"))
        await harness.relay.stop()
    }

    @Test func metricsNameEveryDropReasonAndDirection() async throws {
        let harness = try RelayHarness(workers: 2)
        let client = TestUDPSocket()
        client.send(mediaPacket(1), to: harness.relay.publicAddress)
        #expect(await harness.eventually { $0.dropped(.unknownFlow) == 1 })
        let exposition = harness.relay.metricsExposition()
        #expect(exposition.contains(#"parley_relay_packets_dropped_total{reason="unknown_flow"} 1"#))
        #expect(exposition.contains(#"parley_relay_packets_received_total{socket="public"} 1"#))
        for reason in RelayDropReason.allCases {
            #expect(exposition.contains(#"parley_relay_packets_dropped_total{reason="\#(reason.label)"}"#))
        }
        for direction in RelayDirection.allCases {
            #expect(exposition.contains(#"parley_relay_packets_forwarded_total{direction="\#(direction.label)"}"#))
        }
        #expect(exposition.contains("parley_relay_flows 0"))
        #expect(exposition.contains("parley_relay_ready 1"))
        harness.relay.beginDraining()
        #expect(!harness.relay.isReady)
        #expect(harness.relay.metricsExposition().contains("parley_relay_ready 0"))
        await harness.relay.stop()
    }
}

/// A flow store whose every request fails, as Redis does when it is down.
struct FailingFlowStore: FlowStore {
    struct Unavailable: Error {}

    func record(client: PeerAddress, transceiver: PeerAddress, ttl: Duration) async throws {
        throw Unavailable()
    }

    func lookup(client: PeerAddress) async throws -> PeerAddress? {
        throw Unavailable()
    }
}
