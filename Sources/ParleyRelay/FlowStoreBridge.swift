import Logging
import ParleyWire
import Synchronization

/// Carries flow-store work off the workers' threads: writes of new flows and lookups of
/// unknown clients go into bounded queues that a task drains; a worker never waits for the
/// store. A lookup that hits goes back to the asking worker's inbox.
///
/// When the store fails, forwarding goes on (flows come back with the next STUN consent
/// check); the outage is logged once when it starts and once when it ends, and counted.
final class FlowStoreBridge: Sendable {
    struct Record: Sendable {
        var client: PeerAddress
        var nextHop: PeerAddress
    }

    struct Lookup: Sendable {
        var client: PeerAddress
        var worker: Int
    }

    enum Outcome: Int, CaseIterable {
        case recordOK, recordError, recordQueueFull
        case lookupHit, lookupMiss, lookupError, lookupQueueFull

        var labels: (operation: String, result: String) {
            switch self {
            case .recordOK: ("record", "ok")
            case .recordError: ("record", "error")
            case .recordQueueFull: ("record", "queue_full")
            case .lookupHit: ("lookup", "hit")
            case .lookupMiss: ("lookup", "miss")
            case .lookupError: ("lookup", "error")
            case .lookupQueueFull: ("lookup", "queue_full")
            }
        }
    }

    let store: any FlowStore
    let ttl: Duration
    let logger: Logger
    private let records: AsyncStream<Record>
    private let recordQueue: AsyncStream<Record>.Continuation
    private let lookups: AsyncStream<Lookup>
    private let lookupQueue: AsyncStream<Lookup>.Continuation
    private let outcomes = AtomicCounterArray(count: Outcome.allCases.count)
    private let available = Atomic<Bool>(true)
    private let outageCount = Atomic<UInt64>(0)
    /// Requests in flight at once, per queue.
    private let concurrency = 16

    init(store: any FlowStore, ttl: Duration, queueCapacity: Int = 65_536, logger: Logger) {
        self.store = store
        self.ttl = ttl
        self.logger = logger
        (records, recordQueue) = AsyncStream.makeStream(of: Record.self, bufferingPolicy: .bufferingOldest(queueCapacity))
        (lookups, lookupQueue) = AsyncStream.makeStream(of: Lookup.self, bufferingPolicy: .bufferingOldest(queueCapacity))
    }

    /// Queues a write of `client → nextHop`; never blocks. False when the queue is full.
    @discardableResult
    func record(client: PeerAddress, nextHop: PeerAddress) -> Bool {
        if case .enqueued = recordQueue.yield(Record(client: client, nextHop: nextHop)) { return true }
        count(.recordQueueFull)
        return false
    }

    /// Queues a lookup of `client` for worker `worker`; never blocks. False when the queue is full.
    @discardableResult
    func requestLookup(client: PeerAddress, worker: Int) -> Bool {
        if case .enqueued = lookupQueue.yield(Lookup(client: client, worker: worker)) { return true }
        count(.lookupQueueFull)
        return false
    }

    /// Drains both queues until `finish()`, handing each hit to `deliver`.
    func run(deliver: @escaping @Sendable (Lookup, PeerAddress) -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.drain(self.records) { await self.write($0) } }
            group.addTask { await self.drain(self.lookups) { await self.look(up: $0, deliver: deliver) } }
        }
    }

    /// Ends both queues; `run` returns once the requests already queued are done.
    func finish() {
        recordQueue.finish()
        lookupQueue.finish()
    }

    /// How many requests ended with `outcome`.
    func total(_ outcome: Outcome) -> UInt64 {
        outcomes[outcome.rawValue]
    }

    /// How many times the store became unavailable.
    var outages: UInt64 { outageCount.load(ordering: .relaxed) }

    var isAvailable: Bool { available.load(ordering: .relaxed) }

    private func drain<Element: Sendable>(_ queue: AsyncStream<Element>,
                                          _ handle: @escaping @Sendable (Element) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await element in queue {
                if running >= concurrency {
                    await group.next()
                    running -= 1
                }
                group.addTask { await handle(element) }
                running += 1
            }
        }
    }

    private func write(_ record: Record) async {
        do {
            try await store.record(client: record.client, transceiver: record.nextHop, ttl: ttl)
            count(.recordOK)
            noteSuccess()
        } catch {
            count(.recordError)
            noteFailure(error, operation: "record")
        }
    }

    private func look(up request: Lookup, deliver: @Sendable (Lookup, PeerAddress) -> Void) async {
        do {
            let nextHop = try await store.lookup(client: request.client)
            noteSuccess()
            if let nextHop {
                count(.lookupHit)
                deliver(request, nextHop)
            } else {
                count(.lookupMiss)
            }
        } catch {
            count(.lookupError)
            noteFailure(error, operation: "lookup")
        }
    }

    private func count(_ outcome: Outcome) {
        outcomes.add(outcome.rawValue)
    }

    private func noteSuccess() {
        if !available.exchange(true, ordering: .relaxed) {
            logger.notice("flow store available again")
        }
    }

    private func noteFailure(_ error: any Error, operation: String) {
        if available.exchange(false, ordering: .relaxed) {
            outageCount.add(1, ordering: .relaxed)
            logger.error("flow store unavailable: forwarding goes on, flows return with the next STUN consent check",
                         metadata: ["operation": "\(operation)", "error": "\(error)"])
        }
    }
}
