import ParleyWire

/// Everything a relay needs to know before it binds its sockets.
public struct RelayConfiguration: Sendable {
    /// The public UDP address every client sends to (shared by all workers with SO_REUSEPORT).
    public var publicAddress: PeerAddress
    /// The public TCP address for ICE-TCP clients (RFC 6544 passive side), if any: 443 in a
    /// deployment, for networks that drop outbound UDP.
    public var publicTCPAddress: PeerAddress?
    /// TCP worker threads (event loops), each with its own listening socket on
    /// `publicTCPAddress` (SO_REUSEPORT), its own internal UDP socket and its own connections.
    public var tcpWorkers: Int
    /// The cap on each TCP worker's open connections; more are closed as they are accepted.
    public var maxTCPConnectionsPerWorker: Int
    /// Open connections one source IP may hold on one TCP worker.
    public var maxTCPConnectionsPerSource: Int
    /// A TCP connection must deliver a complete first frame (the Binding request with the
    /// routing token) within this time, or it is closed.
    public var tcpFirstFrameTimeout: Duration
    /// Bytes of replies a TCP connection may have waiting in the relay (written, not yet taken
    /// by the kernel); replies beyond are dropped and counted.
    public var tcpSendQueueBytes: Int
    /// The internal IP the workers send from (each worker on its own ephemeral port), and the
    /// backbone port peer relays send to (shared by all workers; port 0 picks one).
    public var internalAddress: PeerAddress
    /// Whether to listen on `internalAddress`'s port for peer relays (the backbone).
    public var acceptsBackbone: Bool
    /// Worker threads, each with its own sockets and flow table.
    public var workers: Int
    /// Pin worker `i` to the `i`-th CPU this process may use.
    public var pinsWorkers: Bool
    /// This relay's cluster; tokens naming another cluster go over the backbone.
    public var cluster: UInt16
    /// Each other cluster's relay backbone address.
    public var peerClusters: [UInt16: PeerAddress]
    /// A flow with no datagram in either direction for this long is removed.
    public var flowIdleTimeout: Duration
    /// The cap on each worker's flow table.
    public var maxFlowsPerWorker: Int
    /// New flows per second each source IP may create on one worker (token bucket rate).
    public var newFlowsPerSecondPerSource: Double
    /// New flows one source IP may create at once on one worker (token bucket depth).
    public var newFlowBurstPerSource: Double
    /// Flow-store lookups each worker may start per second (for non-STUN datagrams of unknown clients).
    public var lookupsPerSecondPerWorker: Double
    /// A client whose lookup was requested is not looked up again within this time.
    public var lookupCooldown: Duration
    /// Datagrams per recvmmsg/sendmmsg call.
    public var batchSize: Int
    /// The largest datagram a worker accepts; longer ones are dropped as truncated.
    public var maxDatagramSize: Int
    /// After SIGTERM: how long the relay keeps forwarding with `/readyz` at 503 before it exits.
    public var drainDeadline: Duration
    /// The admin HTTP listener (`/healthz`, `/readyz`, `/metrics`), if any.
    public var adminAddress: PeerAddress?
    /// Where transceivers live. A flow restored from the flow store whose next hop is outside
    /// them (and is not a peer relay) is refused and counted: whoever can write to the store
    /// must not be able to steer a client's media elsewhere. Empty: not checked.
    public var transceiverNetworks: [IPNetwork]

    public init(publicAddress: PeerAddress, internalAddress: PeerAddress, acceptsBackbone: Bool = true,
                publicTCPAddress: PeerAddress? = nil, tcpWorkers: Int = 1, maxTCPConnectionsPerWorker: Int = 10_000,
                maxTCPConnectionsPerSource: Int = 100, tcpFirstFrameTimeout: Duration = .seconds(10),
                tcpSendQueueBytes: Int = 16_384,
                workers: Int, pinsWorkers: Bool = true, cluster: UInt16 = 0,
                peerClusters: [UInt16: PeerAddress] = [:], flowIdleTimeout: Duration = .seconds(30),
                maxFlowsPerWorker: Int = 100_000, newFlowsPerSecondPerSource: Double = 50,
                newFlowBurstPerSource: Double = 100, lookupsPerSecondPerWorker: Double = 1_000,
                lookupCooldown: Duration = .seconds(1), batchSize: Int = 32, maxDatagramSize: Int = 2_048,
                drainDeadline: Duration = .seconds(5), adminAddress: PeerAddress? = nil,
                transceiverNetworks: [IPNetwork] = []) {
        self.transceiverNetworks = transceiverNetworks
        self.publicAddress = publicAddress
        self.publicTCPAddress = publicTCPAddress
        self.tcpWorkers = tcpWorkers
        self.maxTCPConnectionsPerWorker = maxTCPConnectionsPerWorker
        self.maxTCPConnectionsPerSource = maxTCPConnectionsPerSource
        self.tcpFirstFrameTimeout = tcpFirstFrameTimeout
        self.tcpSendQueueBytes = tcpSendQueueBytes
        self.internalAddress = internalAddress
        self.acceptsBackbone = acceptsBackbone
        self.workers = workers
        self.pinsWorkers = pinsWorkers
        self.cluster = cluster
        self.peerClusters = peerClusters
        self.flowIdleTimeout = flowIdleTimeout
        self.maxFlowsPerWorker = maxFlowsPerWorker
        self.newFlowsPerSecondPerSource = newFlowsPerSecondPerSource
        self.newFlowBurstPerSource = newFlowBurstPerSource
        self.lookupsPerSecondPerWorker = lookupsPerSecondPerWorker
        self.lookupCooldown = lookupCooldown
        self.batchSize = batchSize
        self.maxDatagramSize = maxDatagramSize
        self.drainDeadline = drainDeadline
        self.adminAddress = adminAddress
    }

    /// True when every address the relay listens on or sends to is a loopback address: the
    /// only case where the publicly known development keyring is acceptable.
    public var isLoopbackOnly: Bool {
        let addresses = [publicAddress, internalAddress] + Array(peerClusters.values) + (adminAddress.map { [$0] } ?? [])
            + (publicTCPAddress.map { [$0] } ?? [])
        return addresses.allSatisfy(\.ip.isLoopback)
    }

    /// Flow-store entries live this long; live flows rewrite theirs every `flowIdleTimeout`.
    var flowStoreTTL: Duration { flowIdleTimeout * 2 }
}

extension IPAddress {
    /// 127.0.0.0/8 or ::1.
    var isLoopback: Bool {
        switch self {
        case .v4(let value): value >> 24 == 127
        case .v6(let value): value.high == 0 && value.low == 1
        }
    }
}
