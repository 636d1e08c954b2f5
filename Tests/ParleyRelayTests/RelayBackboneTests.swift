import ParleyRelay
import ParleyRouting
import ParleyTestSupport
import ParleyWire
import Testing

@Suite("Relay backbone between clusters")
struct RelayBackboneTests {
    @Test func aTokenOfAnotherClusterTravelsThroughThatClustersRelay() async throws {
        // Cluster 2 owns the transceiver; the client reaches cluster 1's relay.
        let owner = try RelayHarness(workers: 2, cluster: 2)
        let backbone = try #require(owner.relay.backboneAddress)
        let entry = try RelayHarness(workers: 2, cluster: 1, peerClusters: [2: backbone])
        let client = TestUDPSocket()
        let request = bindingRequest(serverUfrag: owner.token(cluster: 2))
        client.send(request, to: entry.relay.publicAddress)

        let relayed = try #require(await owner.transceiver.receive())
        let (clientAddress, _, payload) = try #require(RelayEncapsulation.parse(relayed.bytes))
        #expect(clientAddress == client.address)
        #expect(Array(payload) == request)
        #expect(owner.relay.internalAddresses.contains(relayed.source))
        #expect(await entry.transceiver.staysSilent(for: .milliseconds(50)))

        client.send(mediaPacket(1), to: entry.relay.publicAddress)
        let media = try #require(await owner.transceiver.receive())
        #expect(RelayEncapsulation.parse(media.bytes).map { Array($0.payload) } == mediaPacket(1))

        // The reply retraces the path: owner relay, backbone, entry relay, client.
        owner.transceiver.send(RelayEncapsulation.encapsulate([7, 7, 7], client: client.address), to: relayed.source)
        let answer = try #require(await client.receive())
        #expect(answer.bytes == [7, 7, 7])
        #expect(answer.source == entry.relay.publicAddress)

        #expect(await entry.eventually {
            $0.forwarded(.clientToPeerRelay) == 2 && $0.forwarded(.peerRelayToClient) == 1 && $0.flowsCreated(.token) == 1
        })
        #expect(await owner.eventually {
            $0.forwarded(.peerRelayToTransceiver) == 2 && $0.forwarded(.transceiverToPeerRelay) == 1
                && $0.flowsCreated(.backbone) == 1 && $0.received(.backbonePort) == 2
        })
        await entry.relay.stop()
        await owner.relay.stop()
    }

    @Test func theBackboneRefusesTokensOfOtherClustersAndUnknownFlows() async throws {
        let owner = try RelayHarness(workers: 1, cluster: 2)
        let backbone = try #require(owner.relay.backboneAddress)
        let peer = TestUDPSocket()
        let client = PeerAddress(ip: .v4(0x7F00_0001), port: 40_000)
        peer.send(RelayEncapsulation.encapsulate(bindingRequest(serverUfrag: owner.token(cluster: 3)), client: client), to: backbone)
        peer.send(RelayEncapsulation.encapsulate(bindingRequest(serverUfrag: "forged-ufrag"), client: client), to: backbone)
        peer.send(RelayEncapsulation.encapsulate(mediaPacket(1), client: client), to: backbone)
        peer.send(mediaPacket(2), to: backbone)
        #expect(await owner.transceiver.staysSilent())
        #expect(await owner.eventually {
            $0.dropped(.wrongCluster) == 1 && $0.dropped(.badToken) == 1 && $0.dropped(.unknownFlow) == 1
                && $0.dropped(.badEncapsulation) == 1
        })
        await owner.relay.stop()
    }

    @Test func aTokenOfAClusterWithNoPeerIsDropped() async throws {
        let entry = try RelayHarness(workers: 1, cluster: 1)
        let client = TestUDPSocket()
        client.send(bindingRequest(serverUfrag: entry.token(cluster: 5)), to: entry.relay.publicAddress)
        #expect(await entry.transceiver.staysSilent())
        #expect(await entry.eventually { $0.dropped(.unknownCluster) == 1 })
        await entry.relay.stop()
    }
}
