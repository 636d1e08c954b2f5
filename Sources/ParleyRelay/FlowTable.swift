import ParleyWire

/// One relayed flow: where a client's datagrams go, and where the replies for it may come from.
public struct RelayFlow: Sendable, Equatable {
    /// The client's public transport address as the relay sees it (the flow's key).
    public var client: PeerAddress
    /// Where the client's datagrams go: the transceiver, or a peer cluster's relay backbone.
    public var nextHop: PeerAddress
    /// Whether `nextHop` is a peer cluster's relay rather than a transceiver.
    public var nextHopIsPeerRelay: Bool
    /// For a flow that arrived over the backbone: the peer relay worker that replies go back to.
    /// `nil` when replies leave from this relay's public port to the client.
    public var returnHop: PeerAddress?
    /// The last datagram seen in either direction.
    public var lastActivity: Instant
    /// When the flow was last written to the flow store; `nil` for flows never written there.
    public var recordedAt: Instant?

    public init(client: PeerAddress, nextHop: PeerAddress, nextHopIsPeerRelay: Bool = false,
                returnHop: PeerAddress? = nil, lastActivity: Instant, recordedAt: Instant? = nil) {
        self.client = client
        self.nextHop = nextHop
        self.nextHopIsPeerRelay = nextHopIsPeerRelay
        self.returnHop = returnHop
        self.lastActivity = lastActivity
        self.recordedAt = recordedAt
    }
}

/// A relay worker's flows, keyed by client address: fixed capacity, allocated once, idle
/// flows expired by an incremental sweep. Owned by one thread; no locks.
public struct FlowTable {
    /// A flow's position in the table, valid until the flow is removed.
    public typealias Index = Int

    public let capacity: Int
    public let idleTimeout: Duration
    private var slots: [RelayFlow?]
    private var indexByClient: [PeerAddress: Int32]
    private var freeSlots: [Int32]
    private var sweepCursor = 0

    public init(capacity: Int, idleTimeout: Duration) {
        self.capacity = max(capacity, 1)
        self.idleTimeout = idleTimeout
        slots = Array(repeating: nil, count: self.capacity)
        indexByClient = Dictionary(minimumCapacity: self.capacity)
        freeSlots = (0..<Int32(self.capacity)).reversed()
    }

    public var count: Int { indexByClient.count }
    public var isFull: Bool { freeSlots.isEmpty }

    /// The flow of `client`, if any.
    @inline(__always)
    public func index(of client: PeerAddress) -> Index? {
        indexByClient[client].map(Int.init)
    }

    /// The flow at `index`; nil once it has been removed.
    @inline(__always)
    public subscript(index: Index) -> RelayFlow? {
        slots[index]
    }

    /// Marks the flow alive at `now`.
    @inline(__always)
    public mutating func touch(_ index: Index, now: Instant) {
        slots[index]?.lastActivity = now
    }

    /// True (and the flow marked as written at `now`) when a recorded flow's flow-store entry
    /// is older than `interval` and should be written again.
    @inline(__always)
    public mutating func takeRecordDue(_ index: Index, now: Instant, interval: Duration) -> Bool {
        guard let recordedAt = slots[index]?.recordedAt, now - recordedAt >= interval else { return false }
        slots[index]?.recordedAt = now
        return true
    }

    /// Adds `flow`, replacing any flow of the same client. Returns nil when the table is full.
    public mutating func insert(_ flow: RelayFlow) -> Index? {
        if let existing = indexByClient[flow.client] {
            slots[Int(existing)] = flow
            return Int(existing)
        }
        guard let slot = freeSlots.popLast() else { return nil }
        slots[Int(slot)] = flow
        indexByClient[flow.client] = slot
        return Int(slot)
    }

    /// Removes the flow of `client`; returns whether there was one.
    @discardableResult
    public mutating func remove(client: PeerAddress) -> Bool {
        guard let slot = indexByClient.removeValue(forKey: client) else { return false }
        slots[Int(slot)] = nil
        freeSlots.append(slot)
        return true
    }

    /// Examines the next `budget` slots in turn and removes flows idle for `idleTimeout`
    /// or longer. Returns how many it removed. Repeated calls walk the whole table.
    public mutating func sweep(now: Instant, budget: Int) -> Int {
        var removed = 0
        for _ in 0..<min(budget, capacity) {
            if let flow = slots[sweepCursor], now - flow.lastActivity >= idleTimeout {
                remove(client: flow.client)
                removed += 1
            }
            sweepCursor += 1
            if sweepCursor == capacity { sweepCursor = 0 }
        }
        return removed
    }
}
