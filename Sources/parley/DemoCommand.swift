import ArgumentParser
import Logging
import ParleyRelay
import ParleyRouting
import ParleyTransceiver
import ParleyWire

/// `parley demo`: a relay, a transceiver with the built-in agent, signaling and the demo page,
/// in one process on loopback. The browser sees only the relay's public ports: UDP, and TCP
/// (ICE-TCP, RFC 6544) for when UDP cannot get through.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Relay, transceiver, built-in agent and demo page on loopback: open http://127.0.0.1:8080 and talk.")

    @Option(help: "Signaling, demo page, health and metrics, IP:PORT.")
    var http: PeerAddressArgument = .init(PeerAddress("127.0.0.1:8080")!)

    @Option(name: .customLong("public"), help: "The relay's public UDP address: the only media address clients see.")
    var publicAddress: PeerAddressArgument = .init(PeerAddress("127.0.0.1:3478")!)

    @Option(name: .customLong("public-tcp"), help: "The relay's public TCP address for ICE-TCP: answers carry it as a 'tcptype passive' candidate below the UDP one.")
    var publicTCPAddress: PeerAddressArgument = .init(PeerAddress("127.0.0.1:3443")!)

    @Option(help: "The first transceiver shard's UDP address, behind the relay; shard i binds PORT+i, and port 0 gives each shard a free port.")
    var media: PeerAddressArgument = .init(PeerAddress("127.0.0.1:0")!)

    @Option(help: "Transceiver shards, one event-loop thread and UDP socket each (default: the CPUs this process may use).")
    var shards: Int?

    @Option(name: .customLong("backbone"), help: "The relay's internal address (backbone port), IP:PORT.")
    var backbone: PeerAddressArgument = .init(PeerAddress("127.0.0.1:3480")!)

    @Option(help: "Where calls go: 'agent', 'echo', or a ws:// backend URL.")
    var backend: BackendKindArgument = .init(.agent)

    @Option(help: "Relay worker threads.")
    var workers: Int = 1

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        for address in [http.address, publicAddress.address, publicTCPAddress.address, media.address, backbone.address]
        where !address.ip.isLoopback {
            throw ValidationError("the demo runs on loopback only: \(address) is not (use parley relay and parley transceiver to deploy)")
        }
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1") }
    }

    func run() async throws {
        var logger = Logger(label: "parley.demo")
        logger.logLevel = logLevel
        let keyring = RoutingKeyring.development()
        let relay = try Relay(
            configuration: RelayConfiguration(
                publicAddress: publicAddress.address, internalAddress: backbone.address,
                publicTCPAddress: publicTCPAddress.address, workers: workers, pinsWorkers: false, drainDeadline: .zero),
            keyring: keyring, flowStore: MemoryFlowStore(), logger: logger)
        let transceiver = try Transceiver(
            configuration: TransceiverConfiguration(
                httpAddress: http.address, udpAddress: media.address, shards: shards ?? CPUBudget.available(),
                advertisedAddresses: [publicAddress.address], advertisedTCPAddresses: [relay.publicTCPAddress ?? publicTCPAddress.address],
                drainDeadline: .seconds(1), backend: backend.kind,
                relayNetworks: [IPNetwork(backbone.address.ip.description)!], routingKeyring: keyring),
            logger: logger)
        print("Parley demo: open http://\(http.address)/ (media through the relay at udp://\(relay.publicAddress), or tcp://\(relay.publicTCPAddress ?? publicTCPAddress.address) where UDP is blocked)")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await relay.run() }
            group.addTask { try await transceiver.run() }
            try await group.waitForAll()
        }
    }
}
