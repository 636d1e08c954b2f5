import Synchronization

/// Why the relay dropped a datagram (`parley_relay_packets_dropped_total{reason}`).
public enum RelayDropReason: Int, Sendable, CaseIterable {
    /// Larger than the receive buffer.
    case truncated
    /// Not STUN, from a client with no flow here (a flow-store lookup may follow).
    case unknownFlow
    /// STUN from a client with no flow, but not a well-framed Binding request with a USERNAME.
    case notBindingRequest
    /// The USERNAME's first part is not a routing token that verifies under the keyring.
    case badToken
    /// The token names a cluster with no `--peer-cluster` backbone address.
    case unknownCluster
    /// Over the backbone, a token naming a cluster other than this relay's.
    case wrongCluster
    /// The source address's new-flow token bucket is empty.
    case rateLimited
    /// The worker's flow table is at its cap.
    case flowTableFull
    /// An internal or backbone datagram without a valid relay encapsulation header.
    case badEncapsulation
    /// Return traffic for a client with no flow on this worker to the datagram's sender.
    case noReturnFlow
    /// The next hop's address family differs from the socket that would send to it.
    case addressFamily
    /// The kernel refused the datagram (send buffer full, unreachable, ...).
    case sendFailed

    /// The `reason` label value.
    public var label: String {
        switch self {
        case .truncated: "truncated"
        case .unknownFlow: "unknown_flow"
        case .notBindingRequest: "not_binding_request"
        case .badToken: "bad_token"
        case .unknownCluster: "unknown_cluster"
        case .wrongCluster: "wrong_cluster"
        case .rateLimited: "rate_limited"
        case .flowTableFull: "flow_table_full"
        case .badEncapsulation: "bad_encapsulation"
        case .noReturnFlow: "no_return_flow"
        case .addressFamily: "address_family"
        case .sendFailed: "send_failed"
        }
    }
}

/// Which way the relay passed a datagram on (`parley_relay_packets_forwarded_total{direction}`).
public enum RelayDirection: Int, Sendable, CaseIterable {
    case clientToTransceiver, transceiverToClient
    case clientToPeerRelay, peerRelayToClient
    case peerRelayToTransceiver, transceiverToPeerRelay

    /// The `direction` label value.
    public var label: String {
        switch self {
        case .clientToTransceiver: "client_to_transceiver"
        case .transceiverToClient: "transceiver_to_client"
        case .clientToPeerRelay: "client_to_peer_relay"
        case .peerRelayToClient: "peer_relay_to_client"
        case .peerRelayToTransceiver: "peer_relay_to_transceiver"
        case .transceiverToPeerRelay: "transceiver_to_peer_relay"
        }
    }
}

/// How a flow came to be (`parley_relay_flows_created_total{source}`).
public enum RelayFlowSource: Int, Sendable, CaseIterable {
    /// A STUN Binding request with a valid routing token, on the public port.
    case token
    /// The flow store, after a non-STUN datagram of an unknown client.
    case store
    /// A token-bearing Binding request relayed by a peer cluster's relay.
    case backbone

    /// The `source` label value.
    public var label: String {
        switch self {
        case .token: "token"
        case .store: "store"
        case .backbone: "backbone"
        }
    }
}

/// The relay's socket roles (`parley_relay_packets_received_total{socket}`).
public enum RelaySocketRole: Int, Sendable, CaseIterable {
    case publicPort, internalPort, backbonePort

    /// The `socket` label value.
    public var label: String {
        switch self {
        case .publicPort: "public"
        case .internalPort: "internal"
        case .backbonePort: "backbone"
        }
    }
}

/// Every number a worker counts, as one flat index space: the worker adds to plain integers
/// and publishes them with relaxed atomic stores once per loop turn, so a packet costs no
/// atomic read-modify-write.
enum RelayCounter {
    static let dropBase = 0
    static let forwardedBase = dropBase + RelayDropReason.allCases.count
    static let forwardedBytesBase = forwardedBase + RelayDirection.allCases.count
    static let receivedBase = forwardedBytesBase + RelayDirection.allCases.count
    static let createdBase = receivedBase + RelaySocketRole.allCases.count
    static let expired = createdBase + RelayFlowSource.allCases.count
    static let lookupsRequested = expired + 1
    /// Flows the flow store offered with a next hop outside the transceiver networks.
    static let restoresRefused = lookupsRequested + 1
    /// A gauge, not a counter: the worker's current flow count.
    static let flows = restoresRefused + 1
    static let count = flows + 1

    @inline(__always) static func drop(_ reason: RelayDropReason) -> Int { dropBase + reason.rawValue }
    @inline(__always) static func forwarded(_ direction: RelayDirection) -> Int { forwardedBase + direction.rawValue }
    @inline(__always) static func forwardedBytes(_ direction: RelayDirection) -> Int { forwardedBytesBase + direction.rawValue }
    @inline(__always) static func received(_ role: RelaySocketRole) -> Int { receivedBase + role.rawValue }
    @inline(__always) static func created(_ source: RelayFlowSource) -> Int { createdBase + source.rawValue }
}

/// A fixed array of relaxed atomic counters, read from any thread. Workers publish into one
/// with plain stores from their private counts; other writers add.
final class AtomicCounterArray: Sendable {
    let count: Int
    private nonisolated(unsafe) let values: UnsafeMutablePointer<Atomic<UInt64>>

    init(count: Int) {
        self.count = count
        values = .allocate(capacity: count)
        for index in 0..<count {
            (values + index).initialize(to: Atomic(0))
        }
    }

    deinit {
        values.deinitialize(count: count)
        values.deallocate()
    }

    /// Copies `counts` in with relaxed stores (plain moves on x86 and arm64): for a single writer.
    func publish(_ counts: UnsafePointer<UInt64>) {
        for index in 0..<count {
            values[index].store(counts[index], ordering: .relaxed)
        }
    }

    /// Stores `value` at `index`: for a gauge's single writer.
    func set(_ index: Int, to value: UInt64) {
        values[index].store(value, ordering: .relaxed)
    }

    func add(_ index: Int, _ amount: UInt64 = 1) {
        values[index].add(amount, ordering: .relaxed)
    }

    subscript(index: Int) -> UInt64 {
        values[index].load(ordering: .relaxed)
    }
}
