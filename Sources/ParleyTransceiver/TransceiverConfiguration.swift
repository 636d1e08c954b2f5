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

/// What a transceiver is told at start: where it listens, what it advertises, who may call.
public struct TransceiverConfiguration: Sendable {
    /// The signaling HTTP listener.
    public var httpAddress: PeerAddress
    /// The one UDP socket all sessions share.
    public var udpAddress: PeerAddress
    /// Host candidates written into answers (RFC 8839 §5.1); the UDP address when empty.
    public var advertisedAddresses: [PeerAddress]
    /// New calls beyond this many get 503 with Retry-After.
    public var maxSessions: Int
    /// Accepted `Authorization: Bearer` keys; empty means open (allowed on loopback only).
    public var bearerKeys: Set<String>
    /// How long a draining transceiver keeps live sessions after SIGTERM.
    public var drainDeadline: Duration
    public var backend: BackendKind
    /// Relays whose encapsulated datagrams are accepted (docs/relay-encapsulation.md).
    public var relayNetworks: [IPNetwork]
    /// Signs the routing token each session's server ufrag carries (docs/routing-token.md).
    public var routingKeyring: RoutingKeyring
    /// The cluster tokens name; a relay of another cluster forwards over its backbone.
    public var cluster: UInt16
    /// The address tokens name: where relays send this transceiver's packets. The UDP
    /// address unless it is a wildcard.
    public var routingAddress: PeerAddress?

    public init(
        httpAddress: PeerAddress = PeerAddress(ip: .v4(0x7F00_0001), port: 8080),
        udpAddress: PeerAddress = PeerAddress(ip: .v4(0x7F00_0001), port: 3478),
        advertisedAddresses: [PeerAddress] = [],
        maxSessions: Int = 1_000,
        bearerKeys: Set<String> = [],
        drainDeadline: Duration = .seconds(30),
        backend: BackendKind = .agent,
        relayNetworks: [IPNetwork] = [],
        routingKeyring: RoutingKeyring = .development(),
        cluster: UInt16 = 0,
        routingAddress: PeerAddress? = nil
    ) {
        self.backend = backend
        self.relayNetworks = relayNetworks
        self.routingKeyring = routingKeyring
        self.cluster = cluster
        self.routingAddress = routingAddress
        self.httpAddress = httpAddress
        self.udpAddress = udpAddress
        self.advertisedAddresses = advertisedAddresses
        self.maxSessions = maxSessions
        self.bearerKeys = bearerKeys
        self.drainDeadline = drainDeadline
    }

    /// The candidates answers carry.
    public var candidates: [PeerAddress] {
        advertisedAddresses.isEmpty ? [udpAddress] : advertisedAddresses
    }

    /// The transceiver address written into routing tokens.
    public var tokenAddress: PeerAddress { routingAddress ?? udpAddress }

    /// True when datagrams from `source` may carry the relay encapsulation.
    public func acceptsRelay(_ source: IPAddress) -> Bool {
        relayNetworks.contains { $0.contains(source) }
    }

    /// Refuses an open signaling API on a non-loopback address: anyone who can reach it
    /// could start calls. Returns a sentence for the operator, or nil when the setup is safe.
    public func authenticationProblem() -> String? {
        guard bearerKeys.isEmpty, !httpAddress.ip.isLoopback else { return nil }
        return "signaling on \(httpAddress) is not loopback: give --api-key (or PARLEY_API_KEYS) so callers must authenticate"
    }
}
