import ParleyWire

/// Where a call's audio and events go.
public enum BackendKind: Sendable, Equatable, CustomStringConvertible {
    /// The built-in agent: voice activity detection, turn-taking, barge-in (the default).
    case agent
    /// The caller's audio is played back: no AI, for tests and load.
    case echo
    /// An external backend speaking Parley's backend protocol (docs/backend-protocol.md).
    case webSocket(String)

    /// `agent`, `echo`, or a `ws://` / `wss://` URL.
    public init?(argument: String) {
        switch argument {
        case "agent": self = .agent
        case "echo": self = .echo
        case _ where argument.hasPrefix("ws://") || argument.hasPrefix("wss://"): self = .webSocket(argument)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .agent: return "agent"
        case .echo: return "echo"
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
    /// Calls without ICE within this time end (RFC 7675 consent applies after).
    public var consentTimeout: Duration
    /// How long a draining transceiver keeps live sessions after SIGTERM.
    public var drainDeadline: Duration
    public var backend: BackendKind

    public init(
        httpAddress: PeerAddress = PeerAddress(ip: .v4(0x7F00_0001), port: 8080),
        udpAddress: PeerAddress = PeerAddress(ip: .v4(0x7F00_0001), port: 3478),
        advertisedAddresses: [PeerAddress] = [],
        maxSessions: Int = 1_000,
        bearerKeys: Set<String> = [],
        consentTimeout: Duration = .seconds(30),
        drainDeadline: Duration = .seconds(30),
        backend: BackendKind = .agent
    ) {
        self.backend = backend
        self.httpAddress = httpAddress
        self.udpAddress = udpAddress
        self.advertisedAddresses = advertisedAddresses
        self.maxSessions = maxSessions
        self.bearerKeys = bearerKeys
        self.consentTimeout = consentTimeout
        self.drainDeadline = drainDeadline
    }

    /// The candidates answers carry.
    public var candidates: [PeerAddress] {
        advertisedAddresses.isEmpty ? [udpAddress] : advertisedAddresses
    }

    /// Refuses an open signaling API on a non-loopback address: anyone who can reach it
    /// could start calls. Returns a sentence for the operator, or nil when the setup is safe.
    public func authenticationProblem() -> String? {
        guard bearerKeys.isEmpty, !httpAddress.ip.isLoopback else { return nil }
        return "signaling on \(httpAddress) is not loopback: give --api-key (or PARLEY_API_KEYS) so callers must authenticate"
    }
}

extension IPAddress {
    /// 127.0.0.0/8 or ::1 (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3).
    public var isLoopback: Bool {
        switch self {
        case .v4(let value): return value >> 24 == 127
        case .v6(let value): return value.high == 0 && value.low == 1
        }
    }
}
