/// Why a relay TCP worker refused a connection as it was accepted
/// (`parley_relay_tcp_connections_refused_total{reason}`).
public enum RelayTCPRefusal: Int, Sendable, CaseIterable {
    /// The source IP already has `maxTCPConnectionsPerSource` connections on this worker.
    case sourceLimit
    /// The worker already holds `maxTCPConnectionsPerWorker` connections.
    case workerLimit

    /// The `reason` label value.
    public var label: String {
        switch self {
        case .sourceLimit: "source_limit"
        case .workerLimit: "worker_limit"
        }
    }
}

/// Why a relay TCP worker closed a connection (`parley_relay_tcp_connections_closed_total{reason}`).
/// The first five are verdicts on the first frame: such a connection is closed with no reply.
public enum RelayTCPCloseReason: Int, Sendable, CaseIterable {
    /// The first frame is not a well-framed STUN Binding request with a USERNAME (RFC 8489 §6).
    case notBindingRequest
    /// The first part of its USERNAME is not a routing token that verifies under the keyring.
    case badToken
    /// The token names a cluster with no `--peer-cluster` backbone address.
    case unknownCluster
    /// The token's next hop is of the other address family than the worker's internal socket.
    case addressFamily
    /// A frame announced more than the maximum frame length (RFC 4571 §2 length prefix).
    case oversizeFrame
    /// No complete first frame within the first-frame timeout (a slow or silent sender).
    case firstFrameTimeout
    /// No complete frame from the client within the idle timeout.
    case idleTimeout
    /// The client closed the connection, or it failed.
    case clientClosed

    /// The `reason` label value.
    public var label: String {
        switch self {
        case .notBindingRequest: "not_binding_request"
        case .badToken: "bad_token"
        case .unknownCluster: "unknown_cluster"
        case .addressFamily: "address_family"
        case .oversizeFrame: "oversize_frame"
        case .firstFrameTimeout: "first_frame_timeout"
        case .idleTimeout: "idle_timeout"
        case .clientClosed: "client_closed"
        }
    }
}

/// Why a relay TCP worker dropped a frame (`parley_relay_tcp_frames_dropped_total{reason}`).
public enum RelayTCPFrameDropReason: Int, Sendable, CaseIterable {
    /// A zero-length frame from a client (RFC 4571 allows it; there is nothing to forward).
    case emptyFrame
    /// A reply for a client whose connection's send queue is full (its TCP window is closed
    /// or too small): stale audio is worse than lost audio.
    case sendQueueFull
    /// A reply for a client with no admitted connection on this worker to the datagram's sender.
    case noConnection
    /// A datagram on the internal socket without a valid relay encapsulation header, or one
    /// not marked as for a TCP client.
    case badEncapsulation
    /// The kernel refused a datagram toward a transceiver or peer relay.
    case sendFailed

    /// The `reason` label value.
    public var label: String {
        switch self {
        case .emptyFrame: "empty_frame"
        case .sendQueueFull: "send_queue_full"
        case .noConnection: "no_connection"
        case .badEncapsulation: "bad_encapsulation"
        case .sendFailed: "send_failed"
        }
    }
}

/// Every number a TCP worker counts, as one flat index space (as `RelayCounter` for the UDP
/// workers): the core adds to plain integers, the runtime publishes them.
enum RelayTCPCounter {
    static let refusedBase = 0
    static let closedBase = refusedBase + RelayTCPRefusal.allCases.count
    static let droppedBase = closedBase + RelayTCPCloseReason.allCases.count
    static let forwardedBase = droppedBase + RelayTCPFrameDropReason.allCases.count
    static let forwardedBytesBase = forwardedBase + RelayDirection.allCases.count
    static let accepted = forwardedBytesBase + RelayDirection.allCases.count
    /// Connections whose first frame carried a verified routing token.
    static let admitted = accepted + 1
    static let framesReceived = admitted + 1
    /// A gauge: the worker's open connections.
    static let connections = framesReceived + 1
    static let count = connections + 1

    @inline(__always) static func refused(_ reason: RelayTCPRefusal) -> Int { refusedBase + reason.rawValue }
    @inline(__always) static func closed(_ reason: RelayTCPCloseReason) -> Int { closedBase + reason.rawValue }
    @inline(__always) static func dropped(_ reason: RelayTCPFrameDropReason) -> Int { droppedBase + reason.rawValue }
    @inline(__always) static func forwarded(_ direction: RelayDirection) -> Int { forwardedBase + direction.rawValue }
    @inline(__always) static func forwardedBytes(_ direction: RelayDirection) -> Int { forwardedBytesBase + direction.rawValue }
}
