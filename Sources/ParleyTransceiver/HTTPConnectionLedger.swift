import ParleyWire

/// Which signaling connections may stay open, sans-IO: at most `maxConnections` at once, and
/// none may take longer than `headerTimeout` to send its first request head (the slowloris
/// defence: an idle or trickling connection holds no slot for long).
///
/// At the limit, a new connection takes the slot of the oldest connection that is still
/// waiting for its first request head after `evictionAge`: a legitimate client sends its head
/// within a round trip of connecting, so the slots an attacker holds open with partial heads
/// go to newcomers first, and a flood of idle connections cannot lock callers out. With no
/// such connection the newcomer is refused (503 with Retry-After). Under such a flood a
/// connection keeps its slot for about (limit / the flood's connections per second) before its
/// head; a legitimate one needs a fraction of that.
struct HTTPConnectionLedger: Sendable {
    struct Limits: Sendable, Equatable {
        var maxConnections: Int
        var headerTimeout: Duration
        /// How long a connection must have waited for its head before a newcomer may take its
        /// slot: a burst of connections that just opened is not evicted by itself.
        var evictionAge: Duration = .milliseconds(100)
    }

    enum Admission: Equatable {
        case admitted
        /// Admitted in the slot of this connection, which must be closed now.
        case admittedEvicting(UInt64)
        case refused
    }

    let limits: Limits
    /// Open connections: when each opened, and whether its first request head has arrived.
    private var open: [UInt64: (openedAt: Instant, sentHead: Bool)] = [:]
    /// Connections in the order they opened, for the oldest still waiting for its head;
    /// entries that sent their head or closed are skipped when they reach the front.
    private var openingOrder = FIFO<UInt64>()
    private var oldestWaiting: UInt64?

    init(limits: Limits) {
        self.limits = limits
    }

    var openConnections: Int { open.count }

    /// A connection was accepted at `now`.
    mutating func open(_ id: UInt64, now: Instant) -> Admission {
        var admission = Admission.admitted
        if open.count >= limits.maxConnections {
            guard let evicted = oldestWaitingForHead(), now - (open[evicted]?.openedAt ?? now) >= limits.evictionAge else {
                return .refused
            }
            closed(evicted)
            admission = .admittedEvicting(evicted)
        }
        open[id] = (now, false)
        // Entries that sent their head or closed leave from the front, so the order holds
        // at most the connections opened within one header timeout.
        while let first = openingOrder.first, open[first]?.sentHead != false {
            _ = openingOrder.popFirst()
        }
        openingOrder.append(id)
        return admission
    }

    /// The connection's first request head arrived: it no longer has a header deadline and
    /// is not evicted for newcomers.
    mutating func receivedHead(_ id: UInt64) {
        open[id]?.sentHead = true
    }

    mutating func closed(_ id: UInt64) {
        open[id] = nil
        if oldestWaiting == id { oldestWaiting = nil }
    }

    /// When connection `id` must have sent its head, or nil when it has (or is not open).
    func headerDeadline(of id: UInt64) -> Instant? {
        guard let entry = open[id], !entry.sentHead else { return nil }
        return entry.openedAt + limits.headerTimeout
    }

    private mutating func oldestWaitingForHead() -> UInt64? {
        if let oldestWaiting, open[oldestWaiting]?.sentHead == false { return oldestWaiting }
        while let id = openingOrder.popFirst() {
            if open[id]?.sentHead == false {
                oldestWaiting = id
                return id
            }
        }
        oldestWaiting = nil
        return nil
    }
}

/// Finds the end of an HTTP/1.1 request head (RFC 9112 §2.1: the empty line after the header
/// fields) in bytes that arrive in pieces. A bare LF ends a line as CRLF does (§2.2).
struct HTTPHeadScanner: Sendable, Equatable {
    private var atLineStart = false
    private(set) var foundEnd = false

    /// Feeds the next bytes; returns true once the head has ended.
    mutating func scan(_ bytes: some Sequence<UInt8>) -> Bool {
        guard !foundEnd else { return true }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n"):
                if atLineStart {
                    foundEnd = true
                    return true
                }
                atLineStart = true
            case UInt8(ascii: "\r"):
                continue
            default:
                atLineStart = false
            }
        }
        return false
    }
}
