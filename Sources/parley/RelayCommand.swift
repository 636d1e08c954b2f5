import ArgumentParser
import Foundation
import Logging
import ParleyRelay
import ParleyRouting
import ParleyTransceiver
import ParleyWire

struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Steer clients' UDP (and ICE-TCP) to transceivers by the routing token in the first STUN check (docs/relay.md).")

    @Option(name: .customLong("public"), help: "The public UDP address clients send to, IP:PORT.")
    var publicAddress: PeerAddressArgument = .init(PeerAddress("0.0.0.0:3478")!)

    @Option(name: .customLong("public-tcp"),
            help: "A public TCP address for ICE-TCP clients (RFC 6544), IP:PORT, e.g. 0.0.0.0:443 for networks that drop UDP (default: none).")
    var publicTCPAddress: PeerAddressArgument?

    @Option(name: .customLong("tcp-workers"), help: "TCP worker threads (event loops), each with its own listening socket on --public-tcp.")
    var tcpWorkers: Int = 1

    @Option(name: .customLong("max-tcp-connections-per-worker"), help: "The cap on each TCP worker's open connections.")
    var maxTCPConnectionsPerWorker: Int = 10_000

    @Option(name: .customLong("max-tcp-connections-per-source"), help: "Open TCP connections one source IP may hold on one TCP worker.")
    var maxTCPConnectionsPerSource: Int = 100

    @Option(name: .customLong("tcp-first-frame-timeout"), help: "Seconds a TCP connection has to deliver its first frame (the routing token's Binding request).")
    var tcpFirstFrameTimeout: Double = 10

    @Option(name: .customLong("tcp-send-queue-bytes"), help: "Bytes of replies one TCP connection may have waiting in the relay; later ones are dropped and counted.")
    var tcpSendQueueBytes: Int = 16_384

    @Option(name: .customLong("internal"),
            help: "Internal IP the workers send to transceivers from (ephemeral ports), and the backbone port peer relays send to, IP:PORT.")
    var internalAddress: PeerAddressArgument = .init(PeerAddress("127.0.0.1:3479")!)

    @Option(help: "Worker threads, one pinned to each core (default: the CPUs this process may use, by affinity and cgroup CPU quota).")
    var workers: Int?

    @Option(help: "This relay's cluster id (0-65535).")
    var cluster: UInt16 = 0

    @Option(name: .customLong("peer-cluster"),
            help: "Another cluster's relay backbone address, ID=IP:PORT (repeatable).")
    var peerClusters: [PeerClusterArgument] = []

    @Option(help: "Flow store, redis://[[user]:password@]host[:port][/db] (default: in memory).")
    var redis: String?

    @Option(name: .customLong("flow-idle-timeout"), help: "Seconds without a datagram before a flow is removed.")
    var flowIdleTimeout: Double = 30

    @Option(name: .customLong("max-flows-per-worker"), help: "The cap on each worker's flow table.")
    var maxFlowsPerWorker: Int = 100_000

    @Option(name: .customLong("new-flows-per-second"), help: "New flows per second one source IP may open on one worker.")
    var newFlowsPerSecond: Double = 50

    @Option(name: .customLong("new-flow-burst"), help: "New flows one source IP may open at once on one worker.")
    var newFlowBurst: Double = 100

    @Option(help: "Admin HTTP listener for /healthz, /readyz and /metrics, IP:PORT.")
    var admin: PeerAddressArgument?

    @Option(name: .customLong("transceiver-network"),
            help: "Where transceivers live, CIDR (repeatable): a flow restored from the flow store whose next hop lies outside is refused and counted.")
    var transceiverNetworks: [IPNetworkArgument] = []

    @OptionGroup var routingKeys: RoutingKeyOptions

    @Option(name: .customLong("drain-seconds"), help: "Seconds the relay keeps forwarding after SIGTERM with /readyz at 503.")
    var drainSeconds: Double = 5

    @Option(name: .customLong("secret-reload-seconds"), help: "How often the --keys file is checked for changes.")
    var secretReloadSeconds: Double = 5

    @Flag(inversion: .prefixedNo, help: "Pin each worker thread to its own CPU.")
    var pin = true

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func makeConfiguration() throws -> RelayConfiguration {
        guard flowIdleTimeout > 0, drainSeconds >= 0 else {
            throw ValidationError("--flow-idle-timeout must be positive and --drain-seconds not negative")
        }
        guard tcpWorkers >= 1, maxTCPConnectionsPerWorker >= 1, maxTCPConnectionsPerSource >= 1,
              tcpFirstFrameTimeout > 0, tcpSendQueueBytes >= 2 + 1_500 else {
            throw ValidationError("--tcp-workers and the TCP connection limits must be at least 1, --tcp-first-frame-timeout positive, --tcp-send-queue-bytes at least one frame (1,502)")
        }
        if let admin = admin?.address, !admin.ip.isLoopback,
           admin.ip.isUnspecified || admin.ip == publicAddress.address.ip || admin.ip == publicTCPAddress?.address.ip {
            // /metrics and /readyz tell strangers how loaded the relay is and when it drains.
            throw ValidationError("--admin \(admin) would be reachable on the public address: give an internal IP (the pod's) or a loopback one")
        }
        var peers: [UInt16: PeerAddress] = [:]
        for peer in peerClusters {
            guard peer.cluster != cluster else { throw ValidationError("--peer-cluster \(peer.cluster) is this relay's own cluster") }
            guard peers.updateValue(peer.address, forKey: peer.cluster) == nil else {
                throw ValidationError("--peer-cluster \(peer.cluster) given twice")
            }
        }
        return RelayConfiguration(
            publicAddress: publicAddress.address, internalAddress: internalAddress.address,
            publicTCPAddress: publicTCPAddress?.address, tcpWorkers: tcpWorkers,
            maxTCPConnectionsPerWorker: maxTCPConnectionsPerWorker, maxTCPConnectionsPerSource: maxTCPConnectionsPerSource,
            tcpFirstFrameTimeout: .milliseconds(Int64(tcpFirstFrameTimeout * 1_000)), tcpSendQueueBytes: tcpSendQueueBytes,
            workers: workers ?? CPUBudget.available(), pinsWorkers: pin, cluster: cluster, peerClusters: peers,
            flowIdleTimeout: .milliseconds(Int64(flowIdleTimeout * 1_000)), maxFlowsPerWorker: maxFlowsPerWorker,
            newFlowsPerSecondPerSource: newFlowsPerSecond, newFlowBurstPerSource: newFlowBurst,
            drainDeadline: .milliseconds(Int64(drainSeconds * 1_000)), adminAddress: admin?.address,
            transceiverNetworks: transceiverNetworks.map(\.network))
    }

    func run() async throws {
        var logger = Logger(label: "parley.relay")
        logger.logLevel = logLevel
        let configuration = try makeConfiguration()
        let keyring = try routingKeys.load(developmentAllowed: configuration.isLoopbackOnly).keyring
        let store: any FlowStore = if let redis {
            try RedisFlowStore(url: redis, logger: logger)
        } else {
            MemoryFlowStore()
        }
        let relay = try Relay(configuration: configuration, keyring: keyring, flowStore: store, logger: logger)
        let watcher = routingKeys.keys.map { path in
            SecretFileWatcher(files: [.init(name: "routing keys", path: path, countUnreadable: { relay.keyFileUnreadable() }) { text in
                let keyring = try relay.reloadRoutingKeys(text: text)
                return "keys \(keyring.keyIDs), signing \(keyring.signingKeyID)"
            }], interval: .milliseconds(Int64(secretReloadSeconds * 1_000)), logger: logger)
        }
        try await relay.run(alongside: watcher.map { [$0] } ?? [])
        if let redisStore = store as? RedisFlowStore {
            await redisStore.close()
        }
    }
}

/// `ID=IP:PORT` for `--peer-cluster`.
struct PeerClusterArgument: ExpressibleByArgument {
    let cluster: UInt16
    let address: PeerAddress

    init?(argument: String) {
        let parts = argument.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, let cluster = UInt16(parts[0]), let address = PeerAddress(parts[1]) else { return nil }
        self.cluster = cluster
        self.address = address
    }
}
