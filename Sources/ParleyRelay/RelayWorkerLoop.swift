import CParleyLinux
import Glibc
import ParleyRouting
import ParleyWire

/// One worker's thread body: polls its public, internal and backbone sockets, receives in
/// batches into buffers allocated once, reads each datagram in place, and sends in batches.
/// Everything here belongs to this thread: the flow table, the rate limiters and the counts
/// are plain values with no locks.
struct RelayWorkerLoop: ~Copyable {
    private let worker: RelayWorker
    private let keyring: RoutingKeyring
    private let store: FlowStoreBridge?
    private let cluster: UInt16
    private let peerClusters: [UInt16: PeerAddress]
    private let peerRelays: Set<PeerAddress>
    private let internalFamily: Int32
    private let lookupCooldown: Duration
    private let recordInterval: Duration
    private let pollTimeoutMilliseconds: Int32
    private let sweepSlotsPerNanosecond: Double
    private var flows: FlowTable
    private var newFlowLimiter: SourceRateLimiter
    private var lookupBucket: TokenBucket
    private var pendingLookups: [PeerAddress: Instant]
    private let maxPendingLookups = 4_096
    private let batch: ReceiveBatch
    private var toInternal: SendQueue
    private var toPublic: SendQueue
    private var toBackbone: SendQueue
    private let counts: UnsafeMutablePointer<UInt64>
    private var pollSet: [pollfd]
    private var sweepCredit = 0.0
    private var lastMaintenance: Instant
    private var lastPrune: Instant

    init(worker: RelayWorker, configuration: RelayConfiguration, keyring: RoutingKeyring, store: FlowStoreBridge?) {
        let now = monotonicNow()
        self.worker = worker
        self.keyring = keyring
        self.store = store
        cluster = configuration.cluster
        peerClusters = configuration.peerClusters
        peerRelays = Set(configuration.peerClusters.values)
        internalFamily = worker.internalSocket.localAddress.socketFamily
        lookupCooldown = configuration.lookupCooldown
        recordInterval = configuration.flowIdleTimeout
        let idleMilliseconds = Int32(clamping: configuration.flowIdleTimeout.nanosecondsRounded / 1_000_000)
        pollTimeoutMilliseconds = min(100, max(5, idleMilliseconds / 10))
        flows = FlowTable(capacity: configuration.maxFlowsPerWorker, idleTimeout: configuration.flowIdleTimeout)
        // A full pass over the table every quarter of the idle timeout.
        let sweepPeriod = max(Double(configuration.flowIdleTimeout.nanosecondsRounded) / 4, 1)
        sweepSlotsPerNanosecond = Double(flows.capacity) / sweepPeriod
        newFlowLimiter = SourceRateLimiter(rate: configuration.newFlowsPerSecondPerSource,
                                           burst: configuration.newFlowBurstPerSource, capacity: 65_536)
        lookupBucket = TokenBucket(rate: configuration.lookupsPerSecondPerWorker,
                                   burst: configuration.lookupsPerSecondPerWorker, now: now)
        pendingLookups = Dictionary(minimumCapacity: maxPendingLookups)
        let batchSize = max(configuration.batchSize, 1)
        batch = ReceiveBatch(count: batchSize, headroom: RelayEncapsulation.maximumHeaderLength,
                             capacity: configuration.maxDatagramSize)
        toInternal = SendQueue(capacity: batchSize)
        toPublic = SendQueue(capacity: batchSize)
        toBackbone = SendQueue(capacity: batchSize)
        counts = .allocate(capacity: RelayCounter.count)
        counts.initialize(repeating: 0, count: RelayCounter.count)
        var descriptors = [worker.publicSocket.descriptor, worker.internalSocket.descriptor]
        if let backbone = worker.backboneSocket { descriptors.append(backbone.descriptor) }
        pollSet = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        lastMaintenance = now
        lastPrune = now
    }

    deinit {
        counts.deallocate()
    }

    /// Runs until the worker is asked to stop.
    mutating func run() {
        while !worker.shouldStop {
            let ready = poll(&pollSet, nfds_t(pollSet.count), pollTimeoutMilliseconds)
            var now = monotonicNow()
            applyRestoredFlows(now: now)
            if ready > 0 {
                for index in pollSet.indices where pollSet[index].revents & Int16(POLLIN) != 0 {
                    drain(socketAt: index, now: now)
                }
                now = monotonicNow()
            }
            maintain(now: now)
        }
        counts[RelayCounter.flows] = 0
        worker.counters.publish(counts)
    }

    // MARK: Receiving

    /// Reads batches from one socket until it is empty or a few batches have gone by, so the
    /// other sockets get their turn.
    private mutating func drain(socketAt pollIndex: Int, now: Instant) {
        let descriptor = pollSet[pollIndex].fd
        for _ in 0..<8 {
            let received = batch.receive(from: descriptor)
            guard received > 0 else { return }
            switch pollIndex {
            case 0: handlePublic(received, now: now)
            case 1: handleInternal(received, now: now)
            default: handleBackbone(received, now: now)
            }
            flush()
            if received < batch.count { return }
        }
    }

    private mutating func flush() {
        var refused = 0
        if toInternal.count > 0 { refused += toInternal.flush(to: worker.internalSocket.descriptor) }
        if toPublic.count > 0 { refused += toPublic.flush(to: worker.publicSocket.descriptor) }
        if toBackbone.count > 0, let backbone = worker.backboneSocket {
            refused += toBackbone.flush(to: backbone.descriptor)
        }
        counts[RelayCounter.drop(.sendFailed)] &+= UInt64(refused)
    }

    /// Client datagrams: a flow hit is forwarded without a look inside; anything else must be a
    /// STUN Binding request whose USERNAME starts with a routing token that verifies.
    private mutating func handlePublic(_ received: Int, now: Instant) {
        counts[RelayCounter.received(.publicPort)] &+= UInt64(received)
        for slot in 0..<received {
            guard !batch.isTruncated(slot) else {
                count(.truncated)
                continue
            }
            guard let client = batch.source(slot) else { continue }
            let start = batch.start(slot)
            let length = batch.length(slot)
            if let index = flows.index(of: client), let flow = flows[index] {
                flows.touch(index, now: now)
                if flows.takeRecordDue(index, now: now, interval: recordInterval) {
                    store?.record(client: client, nextHop: flow.nextHop)
                }
                forwardEncapsulated(start, length: length, client: client, to: flow.nextHop,
                                    direction: flow.nextHopIsPeerRelay ? .clientToPeerRelay : .clientToTransceiver)
            } else {
                admit(start, length: length, client: client, now: now)
            }
        }
    }

    /// The first datagram of an unknown client.
    private mutating func admit(_ start: UnsafeMutableRawPointer, length: Int, client: PeerAddress, now: Instant) {
        let datagram = UnsafeRawBufferPointer(start: start, count: length)
        guard let username = STUNPeek.username(in: datagram) else {
            if length > 0, datagram[0] < 4 {
                count(.notBindingRequest)
            } else {
                count(.unknownFlow)
                requestLookup(client, now: now)
            }
            return
        }
        guard let token = verifiedToken(in: datagram, username: username) else { return count(.badToken) }
        let nextHop: PeerAddress
        let viaPeerRelay = token.cluster != cluster
        if viaPeerRelay {
            guard let peer = peerClusters[token.cluster] else { return count(.unknownCluster) }
            nextHop = peer
        } else {
            nextHop = token.transceiver
        }
        let flow = RelayFlow(client: client, nextHop: nextHop, nextHopIsPeerRelay: viaPeerRelay,
                             lastActivity: now, recordedAt: store == nil ? nil : now)
        if let refusal = insertNewFlow(flow, now: now) { return count(refusal) }
        counts[RelayCounter.created(.token)] &+= 1
        pendingLookups.removeValue(forKey: client)
        store?.record(client: client, nextHop: nextHop)
        forwardEncapsulated(start, length: length, client: client, to: nextHop,
                            direction: viaPeerRelay ? .clientToPeerRelay : .clientToTransceiver)
    }

    /// Adds a flow a verified token asked for, unless its next hop is of the other address
    /// family, the table is full, or its client's IP is over the new-flow rate; returns why not.
    private mutating func insertNewFlow(_ flow: RelayFlow, now: Instant) -> RelayDropReason? {
        guard flow.nextHop.socketFamily == internalFamily else { return .addressFamily }
        guard !flows.isFull else { return .flowTableFull }
        guard newFlowLimiter.allow(flow.client.ip, now: now) else { return .rateLimited }
        guard flows.insert(flow) != nil else { return .flowTableFull }
        return nil
    }

    /// Writes the encapsulation header into the headroom just before the datagram and queues
    /// header and datagram as one, from the internal socket: no copy of the payload.
    @inline(__always)
    private mutating func forwardEncapsulated(_ start: UnsafeMutableRawPointer, length: Int, client: PeerAddress,
                                             to nextHop: PeerAddress, direction: RelayDirection) {
        let headerLength = RelayEncapsulation.headerLength(for: client)
        let headerStart = start - headerLength
        guard RelayEncapsulation.writeHeader(
            client: client, into: UnsafeMutableRawBufferPointer(start: headerStart, count: headerLength)) == headerLength
        else { return count(.badEncapsulation) }
        queue(.toInternal, headerStart, length: headerLength + length, to: nextHop, direction: direction)
    }

    /// Replies from transceivers (and, for flows sent over the backbone, from the peer relay):
    /// accepted only from the flow's next hop, then sent to the client without the header, or
    /// for a flow that came over the backbone, back to the peer relay with it.
    private mutating func handleInternal(_ received: Int, now: Instant) {
        counts[RelayCounter.received(.internalPort)] &+= UInt64(received)
        for slot in 0..<received {
            guard !batch.isTruncated(slot) else {
                count(.truncated)
                continue
            }
            guard let source = batch.source(slot) else { continue }
            let start = batch.start(slot)
            let length = batch.length(slot)
            guard let (client, payloadOffset) = RelayEncapsulation.parse(UnsafeRawBufferPointer(start: start, count: length))
            else {
                count(.badEncapsulation)
                continue
            }
            guard let index = flows.index(of: client), let flow = flows[index], flow.nextHop == source else {
                count(.noReturnFlow)
                continue
            }
            flows.touch(index, now: now)
            if let returnHop = flow.returnHop {
                queue(.toBackbone, start, length: length, to: returnHop, direction: .transceiverToPeerRelay)
            } else {
                queue(.toPublic, start + payloadOffset, length: length - payloadOffset, to: client,
                      direction: flow.nextHopIsPeerRelay ? .peerRelayToClient : .transceiverToClient)
            }
        }
    }

    /// Encapsulated client datagrams from a peer cluster's relay: a flow hit goes on to the
    /// transceiver as it is; a new client needs a Binding request whose token names this cluster.
    private mutating func handleBackbone(_ received: Int, now: Instant) {
        counts[RelayCounter.received(.backbonePort)] &+= UInt64(received)
        for slot in 0..<received {
            guard !batch.isTruncated(slot) else {
                count(.truncated)
                continue
            }
            guard let source = batch.source(slot) else { continue }
            let start = batch.start(slot)
            let length = batch.length(slot)
            let datagram = UnsafeRawBufferPointer(start: start, count: length)
            guard let (client, payloadOffset) = RelayEncapsulation.parse(datagram) else {
                count(.badEncapsulation)
                continue
            }
            if let index = flows.index(of: client), let flow = flows[index] {
                guard flow.returnHop == source else {
                    count(.unknownFlow)
                    continue
                }
                flows.touch(index, now: now)
                queue(.toInternal, start, length: length, to: flow.nextHop, direction: .peerRelayToTransceiver)
                continue
            }
            let payload = UnsafeRawBufferPointer(rebasing: datagram[payloadOffset...])
            guard let username = STUNPeek.username(in: payload) else {
                count(payload.first.map { $0 < 4 } == true ? .notBindingRequest : .unknownFlow)
                continue
            }
            guard let token = verifiedToken(in: payload, username: username) else {
                count(.badToken)
                continue
            }
            guard token.cluster == cluster else {
                count(.wrongCluster)
                continue
            }
            let flow = RelayFlow(client: client, nextHop: token.transceiver, returnHop: source, lastActivity: now)
            if let refusal = insertNewFlow(flow, now: now) {
                count(refusal)
                continue
            }
            counts[RelayCounter.created(.backbone)] &+= 1
            queue(.toInternal, start, length: length, to: token.transceiver, direction: .peerRelayToTransceiver)
        }
    }

    private enum Outbound {
        case toInternal, toPublic, toBackbone
    }

    @inline(__always)
    private mutating func queue(_ outbound: Outbound, _ bytes: UnsafeMutableRawPointer, length: Int,
                                to destination: PeerAddress, direction: RelayDirection) {
        let queued = switch outbound {
        case .toInternal: toInternal.append(bytes, length: length, to: destination)
        case .toPublic: toPublic.append(bytes, length: length, to: destination)
        case .toBackbone: toBackbone.append(bytes, length: length, to: destination)
        }
        guard queued else { return count(.sendFailed) }
        counts[RelayCounter.forwarded(direction)] &+= 1
        counts[RelayCounter.forwardedBytes(direction)] &+= UInt64(length)
    }

    /// The token in the first part of USERNAME (`serverUfrag:clientUfrag`, RFC 8445 §7.2.2).
    private func verifiedToken(in datagram: UnsafeRawBufferPointer, username: Range<Int>) -> RoutingToken? {
        let value = UnsafeRawBufferPointer(rebasing: datagram[username])
        let ufragEnd = value.firstIndex(of: UInt8(ascii: ":")) ?? value.endIndex
        return RoutingToken.verify(UnsafeRawBufferPointer(rebasing: value[..<ufragEnd]), keyring: keyring)
    }

    @inline(__always)
    private func count(_ reason: RelayDropReason) {
        counts[RelayCounter.drop(reason)] &+= 1
    }

    // MARK: Flow store

    /// One lookup per unknown client per cooldown, within the worker's lookup budget; the
    /// datagram itself is dropped either way.
    private mutating func requestLookup(_ client: PeerAddress, now: Instant) {
        guard let store else { return }
        if let requested = pendingLookups[client], now - requested < lookupCooldown { return }
        guard pendingLookups.count < maxPendingLookups, lookupBucket.take(now: now) else { return }
        pendingLookups[client] = now
        if store.requestLookup(client: client, worker: worker.index) {
            counts[RelayCounter.lookupsRequested] &+= 1
        }
    }

    private mutating func applyRestoredFlows(now: Instant) {
        for restored in worker.takeRestored() {
            pendingLookups.removeValue(forKey: restored.client)
            guard flows.index(of: restored.client) == nil, !flows.isFull,
                  restored.nextHop.socketFamily == internalFamily else { continue }
            var flow = restored
            flow.nextHopIsPeerRelay = peerRelays.contains(flow.nextHop)
            flow.lastActivity = now
            flow.recordedAt = now
            if flows.insert(flow) != nil {
                counts[RelayCounter.created(.store)] &+= 1
            }
        }
    }

    // MARK: Housekeeping

    /// Expires idle flows a slice at a time, forgets old lookups and refilled buckets, and
    /// publishes the counts.
    private mutating func maintain(now: Instant) {
        let elapsed = max(0, (now - lastMaintenance).nanosecondsRounded)
        lastMaintenance = now
        sweepCredit = min(sweepCredit + Double(elapsed) * sweepSlotsPerNanosecond, Double(flows.capacity))
        if sweepCredit >= 1 {
            let budget = Int(sweepCredit)
            sweepCredit -= Double(budget)
            counts[RelayCounter.expired] &+= UInt64(flows.sweep(now: now, budget: budget))
        }
        if now - lastPrune >= .milliseconds(250) {
            lastPrune = now
            if !pendingLookups.isEmpty {
                let cooldown = lookupCooldown
                pendingLookups = pendingLookups.filter { now - $0.value < cooldown }
            }
            if newFlowLimiter.trackedSources > newFlowLimiter.capacity / 2 {
                newFlowLimiter.prune(now: now)
            }
        }
        counts[RelayCounter.flows] = UInt64(flows.count)
        worker.counters.publish(counts)
    }
}

/// CLOCK_MONOTONIC as an `Instant`.
@inline(__always)
func monotonicNow() -> Instant {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Instant(nanoseconds: Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec))
}
