import ParleyWire

/// A deterministic network for tests: hosts on addresses, one link per direction between any
/// two addresses with its own conditions (loss, bursts, delay, jitter, reordering,
/// duplication), and a virtual clock.
///
/// The driver never sleeps and never reads a clock: it jumps virtual time to the next delivery
/// or host deadline, whichever comes first. Every random choice comes from the seed (each link
/// draws from its own generator, seeded in the order links are first used), so a run replays
/// exactly.
public final class SimulatedNetwork {
    public private(set) var now: Instant
    public let start: Instant
    /// The conditions of a link nobody configured.
    public var defaultConditions: LinkConditions
    /// Decides, before the link does, whether a datagram is lost (counted as lost).
    public var drop: ((SimulatedDatagram) -> Bool)?
    /// Changes a datagram's bytes in flight.
    public var rewrite: ((SimulatedDatagram) -> [UInt8])?
    /// Datagrams sent to an address no host has.
    public private(set) var undeliverable = 0

    private let seed: UInt64
    private var hosts: [any SimulatedHost] = []
    private var hostByAddress: [PeerAddress: Int] = [:]
    private var rounds: [Int] = []
    private var links: [LinkKey: SimulatedLink] = [:]
    private var inFlight = DeliveryQueue()

    private struct LinkKey: Hashable {
        var source: PeerAddress
        var destination: PeerAddress
    }

    public init(seed: UInt64, defaultConditions: LinkConditions = .perfect,
                start: Instant = Instant(nanoseconds: 1_000_000_000)) {
        self.seed = seed
        self.defaultConditions = defaultConditions
        self.start = start
        now = start
    }

    public var elapsed: Duration { now - start }

    /// Adds a host on its addresses.
    public func add(_ host: any SimulatedHost) {
        for address in host.addresses {
            precondition(hostByAddress[address] == nil, "two hosts on \(address)")
            hostByAddress[address] = hosts.count
        }
        hosts.append(host)
        rounds.append(0)
    }

    /// Sets the conditions from `source` to `destination`, one way.
    public func setConditions(_ conditions: LinkConditions, from source: PeerAddress, to destination: PeerAddress) {
        let key = LinkKey(source: source, destination: destination)
        var link = links[key] ?? makeLink()
        link.conditions = conditions
        links[key] = link
    }

    /// Sets the same conditions both ways between two addresses.
    public func setConditions(_ conditions: LinkConditions, between first: PeerAddress, and second: PeerAddress) {
        setConditions(conditions, from: first, to: second)
        setConditions(conditions, from: second, to: first)
    }

    /// What happened to the datagrams from `source` to `destination`.
    public func statistics(from source: PeerAddress, to destination: PeerAddress) -> LinkStatistics {
        links[LinkKey(source: source, destination: destination)]?.statistics ?? LinkStatistics()
    }

    /// What happened to every datagram sent so far.
    public var totals: LinkStatistics {
        links.values.reduce(into: LinkStatistics()) { $0 += $1.statistics }
    }

    // MARK: Driving

    /// Runs until `condition` holds or `limit` of virtual time passes; true if it held.
    @discardableResult
    public func run(until condition: () -> Bool, limit: Duration) -> Bool {
        let end = now + limit
        var repeatedAt: Instant?
        while true {
            settle()
            if condition() { return true }
            guard var next = nextEvent(), next <= end else { return condition() }
            if next <= now {
                // A host's deadline passed again at this instant: serve it once more now, and
                // after that a millisecond later, so a deadline that never moves cannot spin.
                guard repeatedAt == now else {
                    repeatedAt = now
                    continue
                }
                next = now + .milliseconds(1)
            }
            now = next
        }
    }

    /// Runs for `duration` of virtual time, then leaves the clock exactly there.
    public func advance(by duration: Duration) {
        let target = now + duration
        run(until: { false }, limit: duration)
        now = target
        settle()
    }

    /// Does everything due at the current instant without moving the clock: drains every
    /// host's transmits, delivers the datagrams due (and whatever they trigger on links with
    /// no delay), and calls `handleTimeout` once on each host whose deadline passed. Returns
    /// true if anything happened.
    @discardableResult
    public func settle() -> Bool {
        var happened = collect()
        var timedOut = Set<Int>()
        while true {
            if let datagram = inFlight.popFirst(dueBy: now) {
                deliver(datagram)
                happened = true
                continue
            }
            let due = hosts.indices.filter { index in
                !timedOut.contains(index) && hosts[index].nextDeadline().map { $0 <= now } == true
            }
            guard !due.isEmpty else { return happened }
            for index in due {
                timedOut.insert(index)
                hosts[index].handleTimeout(now: now)
                collect(from: index)
            }
            happened = true
        }
    }

    /// The earliest delivery or host deadline.
    private func nextEvent() -> Instant? {
        hosts.reduce(inFlight.firstDelivery) { $0.earliest($1.nextDeadline()) }
    }

    /// Drains every host: anything may have been handed to a host from outside the network.
    @discardableResult
    private func collect() -> Bool {
        hosts.indices.reduce(false) { collect(from: $1) || $0 }
    }

    /// Drains the transmits and events of the one host an input or timeout just reached.
    @discardableResult
    private func collect(from index: Int) -> Bool {
        var count = 0
        while let transmit = hosts[index].pollTransmit(now: now) {
            send(transmit, round: rounds[index])
            count += 1
        }
        if count > 0 { rounds[index] += 1 }
        hosts[index].pollEvents()
        return count > 0
    }

    private func send(_ transmit: SimulatedTransmit, round: Int) {
        var datagram = SimulatedDatagram(
            source: transmit.source, destination: transmit.destination, payload: transmit.payload, round: round)
        let key = LinkKey(source: transmit.source, destination: transmit.destination)
        var link = links[key] ?? makeLink()
        defer { links[key] = link }
        link.statistics.sent += 1
        let delays = drop?(datagram) == true ? [] : link.delaysForNextDatagram()
        guard !delays.isEmpty else {
            link.statistics.lost += 1
            return
        }
        link.statistics.duplicated += delays.count - 1
        if let rewrite { datagram.payload = rewrite(datagram) }
        for delay in delays {
            inFlight.insert(datagram, at: now + delay)
        }
    }

    private func deliver(_ datagram: SimulatedDatagram) {
        guard let index = hostByAddress[datagram.destination] else {
            undeliverable += 1
            return
        }
        links[LinkKey(source: datagram.source, destination: datagram.destination)]?.statistics.delivered += 1
        hosts[index].handle(datagram.payload, from: datagram.source, to: datagram.destination, now: now)
        collect(from: index)
    }

    /// A link for its first use: the default conditions and the next seed.
    private func makeLink() -> SimulatedLink {
        SimulatedLink(conditions: defaultConditions, seed: seed ^ (UInt64(links.count + 1) &* 0x9E37_79B9_7F4A_7C15))
    }
}

/// Datagrams in flight, earliest delivery first; datagrams due at the same instant leave in
/// the order they were sent. A binary heap, so a network of many hosts stays cheap to step.
struct DeliveryQueue {
    private struct Entry {
        var at: Instant
        var order: UInt64
        var datagram: SimulatedDatagram

        func precedes(_ other: Entry) -> Bool {
            (at, order) < (other.at, other.order)
        }
    }

    private var heap: [Entry] = []
    private var sent: UInt64 = 0

    var firstDelivery: Instant? { heap.first?.at }

    mutating func insert(_ datagram: SimulatedDatagram, at instant: Instant) {
        heap.append(Entry(at: instant, order: sent, datagram: datagram))
        sent += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst(dueBy instant: Instant) -> SimulatedDatagram? {
        guard let first = heap.first, first.at <= instant else { return nil }
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].precedes(heap[smallest]) { smallest = left }
            if right < heap.count, heap[right].precedes(heap[smallest]) { smallest = right }
            guard smallest != parent else { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return first.datagram
    }
}
