import CParleyLinux
import Glibc
import ParleyRouting
import ParleyWire

/// One worker's thread body, the runtime around its `RelayForwardingCore`: polls the public,
/// internal and backbone sockets, receives in batches into buffers allocated once, hands each
/// datagram to the core in place, carries out the core's decision in the same buffer (the
/// encapsulation header written into the room before the datagram, or a stripped header
/// skipped), and sends in batches. Everything here belongs to this thread: no locks.
struct RelayWorkerLoop: ~Copyable {
    private let worker: RelayWorker
    private let store: FlowStoreBridge?
    private var core: RelayForwardingCore
    private let batch: ReceiveBatch
    private var toInternal: SendQueue
    private var toPublic: SendQueue
    private var toBackbone: SendQueue
    private var pollSet: [pollfd]

    init(worker: RelayWorker, configuration: RelayConfiguration, keyring: RoutingKeyring, store: FlowStoreBridge?) {
        self.worker = worker
        self.store = store
        core = RelayForwardingCore(configuration: configuration, keyring: keyring, usesFlowStore: store != nil,
                                   now: monotonicNow())
        let batchSize = max(configuration.batchSize, 1)
        batch = ReceiveBatch(count: batchSize, headroom: RelayEncapsulation.maximumHeaderLength,
                             capacity: configuration.maxDatagramSize)
        toInternal = SendQueue(capacity: batchSize)
        toPublic = SendQueue(capacity: batchSize)
        toBackbone = SendQueue(capacity: batchSize)
        var descriptors = [worker.publicSocket.descriptor, worker.internalSocket.descriptor]
        if let backbone = worker.backboneSocket { descriptors.append(backbone.descriptor) }
        pollSet = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    }

    /// Runs until the worker is asked to stop.
    mutating func run() {
        var now = monotonicNow()
        while !worker.shouldStop {
            let untilDeadline = max(0, core.nextDeadline().nanoseconds - now.nanoseconds)
            let ready = poll(&pollSet, nfds_t(pollSet.count), Int32(clamping: (untilDeadline + 999_999) / 1_000_000))
            now = monotonicNow()
            if let keyring = worker.takeReplacementKeyring() {
                core.replaceKeyring(keyring)
            }
            for restored in worker.takeRestored() {
                core.handleRestored(client: restored.client, nextHop: restored.nextHop, now: now)
            }
            if ready > 0 {
                for index in pollSet.indices where pollSet[index].revents & Int16(POLLIN) != 0 {
                    drain(socketAt: index, now: now)
                }
                now = monotonicNow()
            }
            core.handleTimeout(now: now)
            worker.counters.publish(core.counters)
        }
        worker.counters.set(RelayCounter.flows, to: 0)
    }

    /// Reads batches from one socket until it is empty or a few batches have gone by, so the
    /// other sockets get their turn.
    private mutating func drain(socketAt pollIndex: Int, now: Instant) {
        let descriptor = pollSet[pollIndex].fd
        let role: RelaySocketRole = switch pollIndex {
        case 0: .publicPort
        case 1: .internalPort
        default: .backbonePort
        }
        for _ in 0..<8 {
            let received = batch.receive(from: descriptor)
            guard received > 0 else { return }
            handle(received, on: role, now: now)
            flush()
            if received < batch.count { return }
        }
    }

    /// Hands each received datagram to the core and queues what it forwards.
    @inline(__always)
    private mutating func handle(_ received: Int, on role: RelaySocketRole, now: Instant) {
        for slot in 0..<received {
            guard !batch.isTruncated(slot) else {
                core.handleTruncated(on: role)
                continue
            }
            guard let source = batch.source(slot) else { continue }
            let start = batch.start(slot)
            let length = batch.length(slot)
            let action = core.handle(UnsafeRawBufferPointer(start: start, count: length), from: source, on: role, now: now)
            if case .forward(let forward) = action {
                queue(forward, start, length: length)
            }
        }
    }

    /// Queues a forwarded datagram where it lies in its receive slot: with the encapsulation
    /// header written into the slot's headroom just before it, or past a header to strip.
    @inline(__always)
    private mutating func queue(_ forward: RelayForward, _ start: UnsafeMutableRawPointer, length: Int) {
        var bytes = start
        var count = length
        switch forward.framing {
        case .unchanged:
            break
        case .encapsulated(let client):
            let headerLength = RelayEncapsulation.headerLength(for: client)
            bytes = start - headerLength
            count += headerLength
            // The headroom is `maximumHeaderLength` bytes, so the header always fits.
            _ = RelayEncapsulation.writeHeader(client: client, into: UnsafeMutableRawBufferPointer(start: bytes, count: headerLength))
        case .stripped(let headerLength):
            bytes = start + headerLength
            count -= headerLength
        }
        let queued = switch forward.socket {
        case .internalPort: toInternal.append(bytes, length: count, to: forward.destination)
        case .publicPort: toPublic.append(bytes, length: count, to: forward.destination)
        case .backbonePort: toBackbone.append(bytes, length: count, to: forward.destination)
        }
        if !queued { core.handleSendFailures(1) }
    }

    /// Sends what the batch produced, then hands the core's flow-store requests to the bridge.
    private mutating func flush() {
        var refused = 0
        if toInternal.count > 0 { refused += toInternal.flush(to: worker.internalSocket.descriptor) }
        if toPublic.count > 0 { refused += toPublic.flush(to: worker.publicSocket.descriptor) }
        if toBackbone.count > 0, let backbone = worker.backboneSocket {
            refused += toBackbone.flush(to: backbone.descriptor)
        }
        if refused > 0 { core.handleSendFailures(refused) }
        while let request = core.pollFlowStoreRequest() {
            switch request {
            case .record(let client, let nextHop): store?.record(client: client, nextHop: nextHop)
            case .lookup(let client): store?.requestLookup(client: client, worker: worker.index)
            }
        }
    }
}

/// CLOCK_MONOTONIC as an `Instant`.
@inline(__always)
func monotonicNow() -> Instant {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Instant(nanoseconds: Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec))
}
