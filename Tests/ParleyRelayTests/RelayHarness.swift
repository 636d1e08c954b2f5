import Logging
import ParleyRelay
import ParleyRouting
import ParleyTestSupport
import ParleyWire

/// A relay on loopback with free ports, a fake transceiver, and helpers to speak to both.
struct RelayHarness: Sendable {
    static let keyring = RoutingKeyring.development()

    let relay: Relay
    let transceiver = TestUDPSocket()

    init(workers: Int = 2, cluster: UInt16 = 0, peerClusters: [UInt16: PeerAddress] = [:],
         idleTimeout: Duration = .seconds(30), newFlowsPerSecond: Double = 50, newFlowBurst: Double = 100,
         maxFlowsPerWorker: Int = 1_000, store: (any FlowStore)? = MemoryFlowStore(), pins: Bool = false,
         acceptsTCP: Bool = false, tcpSendQueueBytes: Int = 16_384) throws {
        let configuration = RelayConfiguration(
            publicAddress: PeerAddress("127.0.0.1:0")!, internalAddress: PeerAddress("127.0.0.1:0")!,
            publicTCPAddress: acceptsTCP ? PeerAddress("127.0.0.1:0")! : nil, tcpSendQueueBytes: tcpSendQueueBytes,
            workers: workers, pinsWorkers: pins, cluster: cluster, peerClusters: peerClusters,
            flowIdleTimeout: idleTimeout, maxFlowsPerWorker: maxFlowsPerWorker,
            newFlowsPerSecondPerSource: newFlowsPerSecond, newFlowBurstPerSource: newFlowBurst,
            lookupCooldown: .milliseconds(100), drainDeadline: .zero)
        var logger = Logger(label: "test.relay")
        logger.logLevel = .critical
        relay = try Relay(configuration: configuration, keyring: Self.keyring, flowStore: store, logger: logger)
        relay.start()
    }

    /// A token naming this harness's fake transceiver.
    func token(cluster: UInt16 = 0, seed: UInt64 = 1) -> String {
        var generator = SeededGenerator(seed: seed)
        return RoutingToken.issue(transceiver: transceiver.address, cluster: cluster, keyring: Self.keyring, using: &generator)
    }

    /// Waits (up to two seconds) until the relay's published counters satisfy `condition`.
    func eventually(_ condition: (RelayStatistics) -> Bool) async -> Bool {
        for _ in 0..<200 {
            if condition(relay.statistics()) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(relay.statistics())
    }

    /// Waits (up to ten seconds) until the TCP workers' published counters satisfy `condition`.
    func eventuallyTCP(_ condition: (RelayTCPStatistics) -> Bool) async -> Bool {
        for _ in 0..<1_000 {
            if let statistics = relay.tcpStatistics(), condition(statistics) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return relay.tcpStatistics().map(condition) ?? false
    }
}

/// A STUN Binding request as an ICE agent sends it to the server (RFC 8445 §7.2.2):
/// USERNAME `serverUfrag:clientUfrag`, MESSAGE-INTEGRITY, FINGERPRINT.
func bindingRequest(serverUfrag: String, clientUfrag: String = "cli1", seed: UInt64 = 7) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    let message = STUNMessage(
        class: .request, transactionID: .random(using: &generator),
        attributes: [.username("\(serverUfrag):\(clientUfrag)"), .priority(1_853_824_767), .iceControlling(42)])
    return message.encoded(integrityKey: Array("server-ice-password-0123".utf8), fingerprint: true)
}

/// A datagram shaped like SRTP (RFC 3550 version 2, payload type 111).
func mediaPacket(_ marker: UInt8, length: Int = 120) -> [UInt8] {
    [0x80, 0x6F, 0x00, marker] + [UInt8](repeating: marker, count: length - 4)
}
