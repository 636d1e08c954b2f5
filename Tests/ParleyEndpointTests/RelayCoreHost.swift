import ParleyRelay
import ParleyRouting
import ParleyTestSupport
import ParleyWire

/// One relay worker on the simulated network: the relay's own `RelayForwardingCore` behind a
/// public address (clients) and an internal one (transceivers), carrying out each action as
/// `RelayWorkerLoop` does, and a flow store that outlives the worker. The store answers a
/// lookup `storeLatency` after it was asked, like a Redis round trip; what it holds is a
/// dictionary here (the stores themselves are tested against a real Redis in ParleyRelayTests).
final class RelayCoreHost: SimulatedHost {
    let publicAddress: PeerAddress
    let internalAddress: PeerAddress
    let usesFlowStore: Bool
    static let storeLatency: Duration = .milliseconds(1)

    private let configuration: RelayConfiguration
    private let keyring: RoutingKeyring
    private var core: RelayForwardingCore
    /// What the flow store holds: client → next hop. Survives `restart(now:)`.
    private(set) var storedFlows: [PeerAddress: PeerAddress] = [:]
    private var lookups: [(client: PeerAddress, answerAt: Instant)] = []
    private var queue = FIFO<SimulatedTransmit>()

    init(public publicAddress: PeerAddress, internal internalAddress: PeerAddress, keyring: RoutingKeyring,
         usesFlowStore: Bool, now: Instant) {
        self.publicAddress = publicAddress
        self.internalAddress = internalAddress
        self.keyring = keyring
        self.usesFlowStore = usesFlowStore
        configuration = RelayConfiguration(publicAddress: publicAddress, internalAddress: internalAddress, workers: 1)
        core = RelayForwardingCore(configuration: configuration, keyring: keyring, usesFlowStore: usesFlowStore, now: now)
    }

    var addresses: [PeerAddress] { [publicAddress, internalAddress] }
    var statistics: RelayStatistics { core.statistics }
    var flowCount: Int { core.flowCount }

    /// The worker process starts again: every flow it had is gone; the store keeps its own.
    func restart(now: Instant) {
        core = RelayForwardingCore(configuration: configuration, keyring: keyring, usesFlowStore: usesFlowStore, now: now)
        lookups = []
        queue = FIFO()
    }

    func handle(_ payload: [UInt8], from source: PeerAddress, to destination: PeerAddress, now: Instant) {
        let socket: RelaySocketRole = destination == publicAddress ? .publicPort : .internalPort
        let action = payload.withUnsafeBytes { core.handle($0, from: source, on: socket, now: now) }
        if case .forward(let forward) = action {
            let bytes: [UInt8] = switch forward.framing {
            case .unchanged: payload
            case .encapsulated(let client): RelayEncapsulation.encapsulate(payload, client: client)
            case .stripped(let headerLength): Array(payload[headerLength...])
            }
            let from = forward.socket == .publicPort ? publicAddress : internalAddress
            queue.append(SimulatedTransmit(source: from, destination: forward.destination, payload: bytes))
        }
        takeFlowStoreRequests(now: now)
    }

    func handleTimeout(now: Instant) {
        core.handleTimeout(now: now)
        while let index = lookups.firstIndex(where: { $0.answerAt <= now }) {
            let client = lookups.remove(at: index).client
            if let nextHop = storedFlows[client] { core.handleRestored(client: client, nextHop: nextHop, now: now) }
        }
        takeFlowStoreRequests(now: now)
    }

    func pollTransmit(now: Instant) -> SimulatedTransmit? {
        queue.popFirst()
    }

    func nextDeadline() -> Instant? {
        lookups.map(\.answerAt).reduce(core.nextDeadline()) { min($0, $1) }
    }

    private func takeFlowStoreRequests(now: Instant) {
        while let request = core.pollFlowStoreRequest() {
            switch request {
            case .record(let client, let nextHop): storedFlows[client] = nextHop
            case .lookup(let client): lookups.append((client, now + Self.storeLatency))
            }
        }
    }
}
