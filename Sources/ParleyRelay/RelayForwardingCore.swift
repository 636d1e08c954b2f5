import ParleyRouting
import ParleyWire

/// What a relay worker does with one datagram: `RelayForwardingCore.handle`'s decision.
public enum RelayAction: Sendable, Equatable {
    /// Send the datagram on, as `RelayForward` says.
    case forward(RelayForward)
    /// Send nothing (counted under the reason): the sender gets no answer.
    case drop(RelayDropReason)
}

/// Where a forwarded datagram goes, from which of the worker's sockets, and how its bytes are
/// framed on the way out. The bytes themselves stay where they were received.
public struct RelayForward: Sendable, Equatable {
    /// The worker socket to send from.
    public var socket: RelaySocketRole
    public var destination: PeerAddress
    public var framing: RelayFraming
    /// Which way the datagram goes (for the counters).
    public var direction: RelayDirection

    public init(socket: RelaySocketRole, destination: PeerAddress, framing: RelayFraming, direction: RelayDirection) {
        self.socket = socket
        self.destination = destination
        self.framing = framing
        self.direction = direction
    }
}

/// How a forwarded datagram's bytes relate to the received ones.
public enum RelayFraming: Sendable, Equatable {
    /// Exactly the received bytes.
    case unchanged
    /// The encapsulation header naming `client` (docs/relay-encapsulation.md) in front of the
    /// received bytes: `RelayEncapsulation.headerLength(for: client)` bytes, written by the
    /// runtime into room it keeps before the datagram.
    case encapsulated(client: PeerAddress)
    /// The received bytes after their first `headerLength` (the encapsulation header).
    case stripped(headerLength: Int)
}

/// Work for the flow store that the runtime carries out off the forwarding path.
public enum RelayFlowStoreRequest: Sendable, Equatable {
    /// Remember `client → nextHop` (a new flow, or a live flow's periodic rewrite).
    case record(client: PeerAddress, nextHop: PeerAddress)
    /// Find the next hop of `client`, a client with no flow here that sent a non-STUN datagram;
    /// a hit comes back through `handleRestored(client:nextHop:now:)`.
    case lookup(client: PeerAddress)
}

/// One relay worker's per-datagram decisions, without sockets, threads or clocks: admission of
/// new clients by routing token, the flow table, the return-path check, the backbone between
/// clusters, flow-store requests and restores, and idle expiry. The runtime passes each
/// datagram in place (no copy) with its source, the socket it came in on and the time, and
/// carries out the `RelayAction` it gets back; see docs/relay.md.
///
/// A client's first datagram must be a STUN Binding request (RFC 8489 §6) whose USERNAME
/// begins with a routing token that verifies (RFC 8445 §7.2.2 `serverUfrag:clientUfrag`,
/// docs/routing-token.md); later datagrams of a known client pass without a look inside.
///
/// ICE-TCP clients (RFC 6544) are a `RelayTCPCore`'s; here they appear only as backbone
/// flows from a peer relay, whose datagrams the encapsulation marks TCP. Those live in a
/// table of their own, so a TCP client and a UDP client with the same address and port
/// never share a flow.
public struct RelayForwardingCore: ~Copyable {
    private var keyring: RoutingKeyring
    private let cluster: UInt16
    private let peerClusters: [UInt16: PeerAddress]
    private let peerRelays: Set<PeerAddress>
    private let transceiverNetworks: [IPNetwork]
    private let sendsFromIPv4: Bool
    private let usesFlowStore: Bool
    private let lookupCooldown: Duration
    private let recordInterval: Duration
    private let maintenanceInterval: Duration
    private let sweepSlotsPerNanosecond: Double
    private var flows: FlowTable
    /// Backbone flows of TCP clients (their client address is a TCP one).
    private var tcpBackboneFlows: FlowTable
    private var newFlowLimiter: SourceRateLimiter
    private var lookupBucket: TokenBucket
    private var pendingLookups: [PeerAddress: Instant]
    private let maxPendingLookups = 4_096
    private var flowStoreRequests = FIFO<RelayFlowStoreRequest>()
    private let counts: UnsafeMutablePointer<UInt64>
    private var sweepCredit = 0.0
    private var tcpSweepCredit = 0.0
    private var lastMaintenance: Instant
    private var lastPrune: Instant

    /// Verifies tokens with `keyring` from now on (a rotation, docs/routing-token.md): flows
    /// already admitted keep forwarding, only new flows' first packets are checked.
    public mutating func replaceKeyring(_ keyring: RoutingKeyring) {
        self.keyring = keyring
    }

    /// A worker's core for `configuration` (cluster, peer clusters, the internal address's
    /// family, flow limits and timeouts). `usesFlowStore`: whether to queue flow-store requests.
    public init(configuration: RelayConfiguration, keyring: RoutingKeyring, usesFlowStore: Bool, now: Instant) {
        self.keyring = keyring
        self.usesFlowStore = usesFlowStore
        cluster = configuration.cluster
        peerClusters = configuration.peerClusters
        peerRelays = Set(configuration.peerClusters.values)
        transceiverNetworks = configuration.transceiverNetworks
        sendsFromIPv4 = configuration.internalAddress.ip.isIPv4
        lookupCooldown = configuration.lookupCooldown
        recordInterval = configuration.flowIdleTimeout
        let idleMilliseconds = configuration.flowIdleTimeout.nanosecondsRounded / 1_000_000
        maintenanceInterval = .milliseconds(min(100, max(5, idleMilliseconds / 10)))
        flows = FlowTable(capacity: configuration.maxFlowsPerWorker, idleTimeout: configuration.flowIdleTimeout)
        tcpBackboneFlows = FlowTable(capacity: configuration.maxTCPConnectionsPerWorker, idleTimeout: configuration.flowIdleTimeout)
        // A full pass over the table every quarter of the idle timeout.
        let sweepPeriod = max(Double(configuration.flowIdleTimeout.nanosecondsRounded) / 4, 1)
        sweepSlotsPerNanosecond = Double(flows.capacity) / sweepPeriod
        newFlowLimiter = SourceRateLimiter(rate: configuration.newFlowsPerSecondPerSource,
                                           burst: configuration.newFlowBurstPerSource, capacity: 65_536)
        lookupBucket = TokenBucket(rate: configuration.lookupsPerSecondPerWorker,
                                   burst: configuration.lookupsPerSecondPerWorker, now: now)
        pendingLookups = Dictionary(minimumCapacity: maxPendingLookups)
        counts = .allocate(capacity: RelayCounter.count)
        counts.initialize(repeating: 0, count: RelayCounter.count)
        lastMaintenance = now
        lastPrune = now
    }

    deinit {
        counts.deallocate()
    }

    // MARK: Datagrams

    /// Decides what happens to `datagram`, received from `source` on the worker's `socket`
    /// role, and counts it. The bytes are read in place and not kept.
    @inline(__always)
    public mutating func handle(_ datagram: UnsafeRawBufferPointer, from source: PeerAddress,
                                on socket: RelaySocketRole, now: Instant) -> RelayAction {
        counts[RelayCounter.received(socket)] &+= 1
        let action = switch socket {
        case .publicPort: handleClient(datagram, from: source, now: now)
        case .internalPort: handleReply(datagram, from: source, now: now)
        case .backbonePort: handleBackbone(datagram, from: source, now: now)
        }
        switch action {
        case .forward(let forward):
            counts[RelayCounter.forwarded(forward.direction)] &+= 1
            counts[RelayCounter.forwardedBytes(forward.direction)] &+= UInt64(forward.length(receiving: datagram.count))
        case .drop(let reason):
            counts[RelayCounter.drop(reason)] &+= 1
        }
        return action
    }

    /// A datagram longer than the runtime's receive buffer, cut short on `socket`: dropped.
    public mutating func handleTruncated(on socket: RelaySocketRole) {
        counts[RelayCounter.received(socket)] &+= 1
        counts[RelayCounter.drop(.truncated)] &+= 1
    }

    /// `count` forwarded datagrams the runtime could not send (the kernel refused them).
    public mutating func handleSendFailures(_ count: Int) {
        counts[RelayCounter.drop(.sendFailed)] &+= UInt64(count)
    }

    /// Client datagrams on the public port: a flow hit is forwarded without a look inside;
    /// anything else must be a Binding request whose token verifies.
    @inline(__always)
    private mutating func handleClient(_ datagram: UnsafeRawBufferPointer, from client: PeerAddress,
                                       now: Instant) -> RelayAction {
        guard let index = flows.index(of: client), let flow = flows[index] else {
            return admit(datagram, from: client, now: now)
        }
        flows.touch(index, now: now)
        if flows.takeRecordDue(index, now: now, interval: recordInterval) {
            flowStoreRequests.append(.record(client: client, nextHop: flow.nextHop))
        }
        return .forward(RelayForward(socket: .internalPort, destination: flow.nextHop, framing: .encapsulated(client: client),
                                     direction: flow.nextHopIsPeerRelay ? .clientToPeerRelay : .clientToTransceiver))
    }

    /// The first datagram of an unknown client.
    private mutating func admit(_ datagram: UnsafeRawBufferPointer, from client: PeerAddress, now: Instant) -> RelayAction {
        guard let username = STUNPeek.username(in: datagram) else {
            if let first = datagram.first, first < 4 { return .drop(.notBindingRequest) }
            requestLookup(client, now: now)
            return .drop(.unknownFlow)
        }
        guard let token = verifiedToken(in: datagram, username: username) else { return .drop(.badToken) }
        let nextHop: PeerAddress
        let viaPeerRelay = token.cluster != cluster
        if viaPeerRelay {
            guard let peer = peerClusters[token.cluster] else { return .drop(.unknownCluster) }
            nextHop = peer
        } else {
            nextHop = token.transceiver
        }
        let flow = RelayFlow(client: client, nextHop: nextHop, nextHopIsPeerRelay: viaPeerRelay,
                             lastActivity: now, recordedAt: usesFlowStore ? now : nil)
        if let refusal = insertNewFlow(flow, now: now) { return .drop(refusal) }
        counts[RelayCounter.created(.token)] &+= 1
        pendingLookups.removeValue(forKey: client)
        if usesFlowStore {
            flowStoreRequests.append(.record(client: client, nextHop: nextHop))
        }
        return .forward(RelayForward(socket: .internalPort, destination: nextHop, framing: .encapsulated(client: client),
                                     direction: viaPeerRelay ? .clientToPeerRelay : .clientToTransceiver))
    }

    /// Adds a flow a verified token asked for to the table of its client's `transport`,
    /// unless its next hop is of the other address family, the table is full, or its client's
    /// IP is over the new-flow rate; returns why not.
    private mutating func insertNewFlow(_ flow: RelayFlow, transport: ClientTransport = .udp, now: Instant) -> RelayDropReason? {
        guard flow.nextHop.ip.isIPv4 == sendsFromIPv4 else { return .addressFamily }
        guard !(transport == .udp ? flows.isFull : tcpBackboneFlows.isFull) else { return .flowTableFull }
        guard newFlowLimiter.allow(flow.client.ip, now: now) else { return .rateLimited }
        let inserted = transport == .udp ? flows.insert(flow) : tcpBackboneFlows.insert(flow)
        guard inserted != nil else { return .flowTableFull }
        return nil
    }

    /// Replies on the internal socket, from transceivers (and, for flows sent over the
    /// backbone, from the peer relay): accepted only from the flow's next hop, then sent to the
    /// client without the header, or for a flow that came over the backbone, back to the peer
    /// relay with it.
    @inline(__always)
    private mutating func handleReply(_ datagram: UnsafeRawBufferPointer, from source: PeerAddress,
                                      now: Instant) -> RelayAction {
        guard let (client, transport, payloadOffset) = RelayEncapsulation.parse(datagram) else { return .drop(.badEncapsulation) }
        guard transport == .udp else { return handleTCPBackboneReply(for: client, from: source, now: now) }
        guard let index = flows.index(of: client), let flow = flows[index], flow.nextHop == source else {
            return .drop(.noReturnFlow)
        }
        flows.touch(index, now: now)
        if let returnHop = flow.returnHop {
            return .forward(RelayForward(socket: .backbonePort, destination: returnHop, framing: .unchanged,
                                         direction: .transceiverToPeerRelay))
        }
        return .forward(RelayForward(socket: .publicPort, destination: client, framing: .stripped(headerLength: payloadOffset),
                                     direction: flow.nextHopIsPeerRelay ? .peerRelayToClient : .transceiverToClient))
    }

    /// A transceiver's reply for a TCP client that came over the backbone: back to the peer
    /// relay whose TCP worker holds the client's connection, header kept (with its TCP mark).
    private mutating func handleTCPBackboneReply(for client: PeerAddress, from source: PeerAddress,
                                                 now: Instant) -> RelayAction {
        guard let index = tcpBackboneFlows.index(of: client), let flow = tcpBackboneFlows[index],
              flow.nextHop == source, let returnHop = flow.returnHop else { return .drop(.noReturnFlow) }
        tcpBackboneFlows.touch(index, now: now)
        return .forward(RelayForward(socket: .backbonePort, destination: returnHop, framing: .unchanged,
                                     direction: .transceiverToPeerRelay))
    }

    /// Encapsulated client datagrams from a peer cluster's relay: a flow hit goes on to the
    /// transceiver as it is; a new client needs a Binding request whose token names this cluster.
    /// UDP and TCP clients (the header's mark) are looked up and added in their own tables.
    private mutating func handleBackbone(_ datagram: UnsafeRawBufferPointer, from source: PeerAddress,
                                         now: Instant) -> RelayAction {
        guard let (client, transport, payloadOffset) = RelayEncapsulation.parse(datagram) else { return .drop(.badEncapsulation) }
        if transport == .udp, let index = flows.index(of: client), let flow = flows[index] {
            guard flow.returnHop == source else { return .drop(.unknownFlow) }
            flows.touch(index, now: now)
            return .forward(RelayForward(socket: .internalPort, destination: flow.nextHop, framing: .unchanged,
                                         direction: .peerRelayToTransceiver))
        }
        if transport == .tcp, let index = tcpBackboneFlows.index(of: client), let flow = tcpBackboneFlows[index] {
            guard flow.returnHop == source else { return .drop(.unknownFlow) }
            tcpBackboneFlows.touch(index, now: now)
            return .forward(RelayForward(socket: .internalPort, destination: flow.nextHop, framing: .unchanged,
                                         direction: .peerRelayToTransceiver))
        }
        let payload = UnsafeRawBufferPointer(rebasing: datagram[payloadOffset...])
        guard let username = STUNPeek.username(in: payload) else {
            return .drop(payload.first.map { $0 < 4 } == true ? .notBindingRequest : .unknownFlow)
        }
        guard let token = verifiedToken(in: payload, username: username) else { return .drop(.badToken) }
        guard token.cluster == cluster else { return .drop(.wrongCluster) }
        let flow = RelayFlow(client: client, nextHop: token.transceiver, returnHop: source, lastActivity: now)
        if let refusal = insertNewFlow(flow, transport: transport, now: now) { return .drop(refusal) }
        counts[RelayCounter.created(.backbone)] &+= 1
        return .forward(RelayForward(socket: .internalPort, destination: token.transceiver, framing: .unchanged,
                                     direction: .peerRelayToTransceiver))
    }

    /// The token in the first part of USERNAME (`serverUfrag:clientUfrag`, RFC 8445 §7.2.2).
    private func verifiedToken(in datagram: UnsafeRawBufferPointer, username: Range<Int>) -> RoutingToken? {
        RoutingToken.verify(usernameOf: datagram, at: username, keyring: keyring)
    }

    // MARK: Flow store

    /// The next request for the flow store, oldest first; nil when none waits. The runtime
    /// drains these after each batch of datagrams.
    public mutating func pollFlowStoreRequest() -> RelayFlowStoreRequest? {
        flowStoreRequests.popFirst()
    }

    /// One lookup per unknown client per cooldown, within the worker's lookup budget.
    private mutating func requestLookup(_ client: PeerAddress, now: Instant) {
        guard usesFlowStore else { return }
        if let requested = pendingLookups[client], now - requested < lookupCooldown { return }
        guard pendingLookups.count < maxPendingLookups, lookupBucket.take(now: now) else { return }
        pendingLookups[client] = now
        flowStoreRequests.append(.lookup(client: client))
        counts[RelayCounter.lookupsRequested] &+= 1
    }

    /// A flow the flow store had for `client` (the answer to a lookup): added unless the
    /// client has a flow already, the table is full or `nextHop` is of the other address family.
    /// A next hop that is neither a peer relay nor inside the transceiver networks is refused
    /// and counted (the store is not trusted to steer media).
    public mutating func handleRestored(client: PeerAddress, nextHop: PeerAddress, now: Instant) {
        pendingLookups.removeValue(forKey: client)
        let isPeerRelay = peerRelays.contains(nextHop)
        guard isPeerRelay || transceiverNetworks.isEmpty || transceiverNetworks.contains(where: { $0.contains(nextHop.ip) }) else {
            counts[RelayCounter.restoresRefused] &+= 1
            return
        }
        guard flows.index(of: client) == nil, !flows.isFull, nextHop.ip.isIPv4 == sendsFromIPv4 else { return }
        let flow = RelayFlow(client: client, nextHop: nextHop, nextHopIsPeerRelay: isPeerRelay,
                             lastActivity: now, recordedAt: now)
        if flows.insert(flow) != nil {
            counts[RelayCounter.created(.store)] &+= 1
        }
    }

    // MARK: Time

    /// Expires idle flows a slice at a time (a whole pass per quarter of the idle timeout,
    /// however often this is called), forgets old lookups and refilled buckets, and updates
    /// the flow gauge. May be called at any time; the runtime calls it at least by
    /// `nextDeadline()`.
    public mutating func handleTimeout(now: Instant) {
        let elapsed = max(0, now.nanoseconds - lastMaintenance.nanoseconds)
        lastMaintenance = max(lastMaintenance, now)
        sweepCredit = min(sweepCredit + Double(elapsed) * sweepSlotsPerNanosecond, Double(flows.capacity))
        if sweepCredit >= 1 {
            let budget = Int(sweepCredit)
            sweepCredit -= Double(budget)
            counts[RelayCounter.expired] &+= UInt64(flows.sweep(now: now, budget: budget))
        }
        // The TCP table at the same pace: a whole pass per quarter of the idle timeout.
        let tcpShare = Double(tcpBackboneFlows.capacity) / Double(flows.capacity)
        tcpSweepCredit = min(tcpSweepCredit + Double(elapsed) * sweepSlotsPerNanosecond * tcpShare,
                             Double(tcpBackboneFlows.capacity))
        if tcpSweepCredit >= 1 {
            let budget = Int(tcpSweepCredit)
            tcpSweepCredit -= Double(budget)
            counts[RelayCounter.expired] &+= UInt64(tcpBackboneFlows.sweep(now: now, budget: budget))
        }
        if now.nanoseconds - lastPrune.nanoseconds >= 250_000_000 {
            lastPrune = now
            if !pendingLookups.isEmpty {
                let cooldown = lookupCooldown
                pendingLookups = pendingLookups.filter { now - $0.value < cooldown }
            }
            if newFlowLimiter.trackedSources > newFlowLimiter.capacity / 2 {
                newFlowLimiter.prune(now: now)
            }
        }
        counts[RelayCounter.flows] = UInt64(flows.count + tcpBackboneFlows.count)
    }

    /// When `handleTimeout(now:)` is next due: a tenth of the idle timeout after the last
    /// call, between 5 and 100 ms.
    public func nextDeadline() -> Instant {
        lastMaintenance + maintenanceInterval
    }

    // MARK: Counters

    /// Flows in the table now.
    public var flowCount: Int { flows.count + tcpBackboneFlows.count }

    /// This core's counters (the flow gauge as of the last `handleTimeout(now:)`).
    public var statistics: RelayStatistics {
        RelayStatistics(values: Array(UnsafeBufferPointer(start: counts, count: RelayCounter.count)))
    }

    /// The counters in `RelayCounter`'s index space, for the runtime to publish.
    var counters: UnsafePointer<UInt64> { UnsafePointer(counts) }
}

extension RelayForward {
    /// The bytes sent for a received datagram of `receivedLength` bytes.
    @inline(__always)
    func length(receiving receivedLength: Int) -> Int {
        switch framing {
        case .unchanged: receivedLength
        case .encapsulated(let client): RelayEncapsulation.headerLength(for: client) + receivedLength
        case .stripped(let headerLength): receivedLength - headerLength
        }
    }
}
