import Logging
import ParleyRelay
import ParleyRouting
import ParleyWire
import Testing

@Suite("Relay lifecycle and configuration")
struct RelayLifecycleTests {
    func configuration(public publicAddress: String, internal internalAddress: String = "127.0.0.1:0",
                       peers: [UInt16: PeerAddress] = [:], admin: PeerAddress? = nil) -> RelayConfiguration {
        RelayConfiguration(publicAddress: PeerAddress(publicAddress)!, internalAddress: PeerAddress(internalAddress)!,
                           workers: 2, pinsWorkers: false, peerClusters: peers, adminAddress: admin)
    }

    @Test func aPortHeldByAnotherSocketFailsAtInitAndAStoppedRelayFreesItsPorts() async throws {
        let holder = TestUDPSocket()
        #expect(throws: RelaySocketError.self) {
            try Relay(configuration: configuration(public: holder.address.description), keyring: .development(),
                      flowStore: nil, logger: Logger(label: "test"))
        }
        let relay = try Relay(configuration: configuration(public: "127.0.0.1:0"), keyring: .development(),
                              flowStore: nil, logger: Logger(label: "test"))
        let port = relay.publicAddress.port
        #expect(port != 0)
        #expect(relay.backboneAddress?.port != 0)
        #expect(relay.internalAddresses.count == 2)
        await relay.stop()
        // Never started, stopped at once; the port is free again.
        let again = try Relay(configuration: configuration(public: "127.0.0.1:\(port)"), keyring: .development(),
                              flowStore: nil, logger: Logger(label: "test"))
        #expect(again.publicAddress.port == port)
        await again.stop()
    }

    @Test func drainingReportsNotReadyButKeepsForwarding() async throws {
        let harness = try RelayHarness(workers: 2)
        let client = TestUDPSocket()
        #expect(harness.relay.isReady)
        client.send(bindingRequest(serverUfrag: harness.token()), to: harness.relay.publicAddress)
        #expect(await harness.transceiver.receive() != nil)
        harness.relay.beginDraining()
        #expect(!harness.relay.isReady)
        client.send(mediaPacket(1), to: harness.relay.publicAddress)
        #expect(await harness.transceiver.receive() != nil)
        await harness.relay.stop()
        #expect(!harness.relay.isReady)
        client.send(mediaPacket(2), to: harness.relay.publicAddress)
        #expect(await harness.transceiver.staysSilent(for: .milliseconds(100)))
        #expect(harness.relay.statistics().flows == 0)
    }

    @Test func theDevelopmentKeyringIsForLoopbackOnly() {
        #expect(configuration(public: "127.0.0.1:3478").isLoopbackOnly)
        #expect(configuration(public: "[::1]:3478", internal: "127.0.0.2:3479").isLoopbackOnly)
        #expect(!configuration(public: "0.0.0.0:3478").isLoopbackOnly)
        #expect(!configuration(public: "127.0.0.1:3478", internal: "10.0.0.1:3479").isLoopbackOnly)
        #expect(!configuration(public: "127.0.0.1:3478", peers: [2: PeerAddress("10.1.0.1:3479")!]).isLoopbackOnly)
        #expect(!configuration(public: "127.0.0.1:3478", admin: PeerAddress("0.0.0.0:9090")!).isLoopbackOnly)
    }
}
