import ParleyEndpoint
import ParleyRouting
import ParleyWire

/// Where a call's audio and events go.
public enum BackendKind: Sendable, Equatable, CustomStringConvertible {
    /// The built-in agent: voice activity detection, turn-taking, barge-in (the default).
    case agent
    /// The caller's audio is decoded, re-encoded and played back: no AI, for tests and load.
    case echo
    /// Each received Opus packet is sent straight back, not decoded: the transport alone
    /// (SRTP in and out), for capacity measurements.
    case packetEcho
    /// An external backend speaking Parley's backend protocol (docs/backend-protocol.md).
    case webSocket(String)

    /// `agent`, `echo`, or a `ws://` / `wss://` URL.
    public init?(argument: String) {
        switch argument {
        case "agent": self = .agent
        case "echo": self = .echo
        case "packet-echo": self = .packetEcho
        case _ where argument.hasPrefix("ws://") || argument.hasPrefix("wss://"): self = .webSocket(argument)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .agent: return "agent"
        case .echo: return "echo"
        case .packetEcho: return "packet-echo"
        case .webSocket(let url): return url
        }
    }
}

extension PeerAddress {
    /// The same IP with the port `count` higher; port 0 (any port) stays 0.
    func offset(by count: Int) -> PeerAddress {
        guard port != 0 else { return self }
        return PeerAddress(ip: ip, port: UInt16(truncatingIfNeeded: Int(port) + count))
    }
}

/// The signaling port's limits against abuse (docs/transceiver.md, "Limits"): slow or idle
/// connections, large bodies, bursts of offers.
public struct SignalingLimits: Sendable, Equatable {
    /// Open connections at most; a newcomer beyond takes the place of the oldest connection
    /// still waiting for its first request head (after 100 ms), else gets 503 with Retry-After.
    public var maxConnections: Int
    /// How long a connection has to send its first request head, and an offer its body: 408.
    public var readTimeout: Duration
    /// A keep-alive connection with no request for this long is closed (Hummingbird's idle
    /// timeout, RFC 9112 §9.5).
    public var idleTimeout: Duration
    /// Request bodies larger than this get 413.
    public var maxBodyBytes: Int
    /// Offers being read or answered at once; more get 503 `too_many_pending_offers`.
    public var maxPendingOffers: Int

    public init(maxConnections: Int = 2_048, readTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(75),
                maxBodyBytes: Int = 64 * 1_024, maxPendingOffers: Int = 64) {
        self.maxConnections = maxConnections
        self.readTimeout = readTimeout
        self.idleTimeout = idleTimeout
        self.maxBodyBytes = maxBodyBytes
        self.maxPendingOffers = maxPendingOffers
    }
}

/// What a call's backend may cost the transceiver (docs/transceiver.md, "Limits").
public struct BackendLimits: Sendable, Equatable {
    /// Bytes waiting for a WebSocket backend to read, per call; the oldest audio gives way.
    public var sendQueueBytes: Int
    /// A WebSocket backend whose socket takes nothing for this long while data waits is
    /// unresponsive: the call ends with `backend_unresponsive`.
    public var stallTimeout: Duration
    /// The backend's audio a call queues for the caller; beyond it the oldest is dropped.
    public var playoutLimit: Duration

    public init(sendQueueBytes: Int = 128 * 1_024, stallTimeout: Duration = .seconds(5), playoutLimit: Duration = .seconds(60)) {
        self.sendQueueBytes = sendQueueBytes
        self.stallTimeout = stallTimeout
        self.playoutLimit = playoutLimit
    }
}

/// What a transceiver is told at start: where it listens, what it advertises, who may call.
public struct TransceiverConfiguration: Sendable {
    /// The signaling HTTP listener.
    public var httpAddress: PeerAddress
    /// The first shard's UDP socket; shard i binds PORT+i (port 0: each shard its own
    /// ephemeral port), unless `udpAddresses` lists every shard's socket.
    public var udpAddress: PeerAddress
    /// One socket per shard, when they are not consecutive ports of `udpAddress`.
    public var udpAddresses: [PeerAddress]
    /// Shards when `udpAddresses` does not list them: event loop threads, each with its own
    /// UDP socket and its own calls.
    public var shards: Int
    /// Host candidates written into answers (RFC 8839 §5.1); each shard's own socket when empty.
    public var advertisedAddresses: [PeerAddress]
    /// Relay TCP addresses written into answers as `tcptype passive` host candidates
    /// (RFC 6544 §4.5), below the UDP ones: for clients whose network drops UDP. None by default.
    public var advertisedTCPAddresses: [PeerAddress]
    /// The relays answers carry for a caller of each region (the `Parley-Client-Region`
    /// request header, set by the ingress from its own view of where the caller is): the
    /// seed's geo-steering, so a caller enters at the relay nearest to them whichever region
    /// the transceiver is in. Empty: every answer carries the advertised addresses.
    public var regionIngress: [String: AnswerCandidates] = [:]
    /// Overload control (`ShardPressure`): a shard whose loop thread was busy for more than
    /// `maxUtilisation` of the last second, or ran a tenth of its timers more than `lateness`
    /// late, takes no new calls; when every loaded shard is so, new calls get 503
    /// `overloaded` and `/readyz` 503. Nil turns it off.
    public var overloadLimits: ShardPressure.Limits? = .init(lateness: .milliseconds(10), maxUtilisation: 0.8)
    /// New calls beyond this many get 503 with Retry-After.
    public var maxSessions: Int
    public var signalingLimits = SignalingLimits()
    public var backendLimits = BackendLimits()
    /// Each shard socket's receive buffer (SO_RCVBUF): how long a burst of datagrams, a flood
    /// included, may wait while the shard's thread is busy or not scheduled. The kernel caps
    /// it at `net.core.rmem_max`.
    public var udpReceiveBufferBytes = 4 * 1_024 * 1_024
    /// Accepted `Authorization: Bearer` keys; empty means open (allowed on loopback only).
    public var bearerKeys: Set<String>
    /// Take a server key from a browser page (a request with `Origin`); off by default, as
    /// pages should hold ephemeral client secrets instead.
    public var allowsBrowserServerKeys: Bool
    /// How long a draining transceiver keeps live sessions after SIGTERM.
    public var drainDeadline: Duration
    public var backend: BackendKind
    /// Relays whose encapsulated datagrams are accepted (docs/relay-encapsulation.md).
    public var relayNetworks: [IPNetwork]
    /// Signs the routing token each session's server ufrag carries (docs/routing-token.md).
    public var routingKeyring: RoutingKeyring
    /// The cluster tokens name; a relay of another cluster forwards over its backbone.
    public var cluster: UInt16
    /// The address tokens name: where relays send this transceiver's packets; shard i's
    /// tokens name PORT+i. The shard's own UDP address when nil.
    public var routingAddress: PeerAddress?
    /// Where the other transceivers of the cluster reach this one's signaling (its pod
    /// address and HTTP port): call ids name it, signed, and a control request for a call
    /// that reaches another transceiver is forwarded here. Nil for a lone transceiver.
    public var controlAddress: PeerAddress?

    public init(
        httpAddress: PeerAddress = PeerAddress(ip: .v4(0x7F00_0001), port: 8080),
        udpAddress: PeerAddress = PeerAddress(ip: .v4(0x7F00_0001), port: 3478),
        udpAddresses: [PeerAddress] = [],
        shards: Int = 1,
        advertisedAddresses: [PeerAddress] = [],
        advertisedTCPAddresses: [PeerAddress] = [],
        maxSessions: Int = 1_000,
        bearerKeys: Set<String> = [],
        allowsBrowserServerKeys: Bool = false,
        drainDeadline: Duration = .seconds(30),
        backend: BackendKind = .agent,
        relayNetworks: [IPNetwork] = [],
        routingKeyring: RoutingKeyring = .development(),
        cluster: UInt16 = 0,
        routingAddress: PeerAddress? = nil,
        controlAddress: PeerAddress? = nil
    ) {
        self.controlAddress = controlAddress
        self.backend = backend
        self.relayNetworks = relayNetworks
        self.routingKeyring = routingKeyring
        self.cluster = cluster
        self.routingAddress = routingAddress
        self.httpAddress = httpAddress
        self.udpAddress = udpAddress
        self.udpAddresses = udpAddresses
        self.shards = shards
        self.advertisedAddresses = advertisedAddresses
        self.advertisedTCPAddresses = advertisedTCPAddresses
        self.maxSessions = maxSessions
        self.bearerKeys = bearerKeys
        self.allowsBrowserServerKeys = allowsBrowserServerKeys
        self.drainDeadline = drainDeadline
    }

    /// The socket each shard binds: `udpAddresses` when it lists more than one, else
    /// `shards` consecutive ports from `udpAddress` (all 0 when it asks for port 0).
    public var shardUDPAddresses: [PeerAddress] {
        if udpAddresses.count > 1 { return udpAddresses }
        let first = udpAddresses.first ?? udpAddress
        return (0..<max(1, shards)).map { first.offset(by: $0) }
    }

    /// The candidates answers of a shard bound at `bound` carry: the advertised addresses
    /// (a relay's public address, the same for every shard), else the shard's own socket.
    public func candidates(forShardBoundAt bound: PeerAddress) -> [PeerAddress] {
        advertisedAddresses.isEmpty ? [bound] : advertisedAddresses
    }

    /// The address shard `index` (bound at `bound`) writes into routing tokens, so a relay
    /// forwards its clients straight to its socket: `routingAddress` with PORT+index, else
    /// the shard's own socket.
    public func tokenAddress(forShard index: Int, boundAt bound: PeerAddress) -> PeerAddress {
        routingAddress.map { $0.offset(by: index) } ?? bound
    }

    /// Refuses an open signaling API on a non-loopback address: anyone who can reach it
    /// could start calls. Returns a sentence for the operator, or nil when the setup is safe.
    public func authenticationProblem() -> String? {
        guard bearerKeys.isEmpty, !httpAddress.ip.isLoopback else { return nil }
        return "signaling on \(httpAddress) is not loopback: give --api-key (or PARLEY_API_KEYS) so callers must authenticate"
    }
}
