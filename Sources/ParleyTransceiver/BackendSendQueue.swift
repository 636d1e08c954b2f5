import ParleyWire

/// What waits for a call's backend WebSocket to take it, sans-IO: bounded in bytes, and
/// watched for a backend that stopped reading.
///
/// - **Bound.** At most `maxBytes` wait (the message being written is the socket's). To make
///   room, the oldest caller audio goes first: for a voice agent the newest speech matters
///   most, and events (the session, the caller's events, the end of the call) are small and
///   carry state. An event that finds the queue full of events is dropped. Every drop is
///   counted.
/// - **Stall.** The backend is unresponsive when something has waited `stallTimeout` with no
///   write completing: the socket stopped taking bytes (TCP flow control, RFC 9293 §3.8.6,
///   once the kernel's buffers are full), so the backend stopped reading.
struct BackendSendQueue<Message: Sendable>: Sendable {
    struct Limits: Sendable, Equatable {
        var maxBytes: Int
        var stallTimeout: Duration
    }

    enum Kind: Sendable, Equatable {
        case audio
        case event
    }

    /// What a `push` dropped.
    struct Drops: Sendable, Equatable {
        var audioFrames = 0
        var events = 0
        var isEmpty: Bool { audioFrames == 0 && events == 0 }
    }

    let limits: Limits
    private var items: [(message: Message, kind: Kind, bytes: Int)] = []
    private(set) var queuedBytes = 0
    private var writing = false
    /// Since when something has been unwritten with no write completing; nil when all was written.
    private var waitingSince: Instant?
    private(set) var isFinished = false

    init(limits: Limits) {
        self.limits = limits
    }

    var isEmpty: Bool { items.isEmpty }

    /// Queues one message of `bytes`; returns what was dropped to keep the bound.
    mutating func push(_ message: Message, kind: Kind, bytes: Int, now: Instant) -> Drops {
        var drops = Drops()
        guard !isFinished else { return drops }
        while queuedBytes + bytes > limits.maxBytes, let oldestAudio = items.firstIndex(where: { $0.kind == .audio }) {
            queuedBytes -= items.remove(at: oldestAudio).bytes
            drops.audioFrames += 1
        }
        guard queuedBytes + bytes <= limits.maxBytes else {
            if kind == .audio { drops.audioFrames += 1 } else { drops.events += 1 }
            return drops
        }
        if items.isEmpty, !writing { waitingSince = now }
        items.append((message, kind, bytes))
        queuedBytes += bytes
        return drops
    }

    /// The next message for the socket; it is in flight until `wrote(now:)`.
    mutating func pop() -> Message? {
        guard !items.isEmpty else { return nil }
        let item = items.removeFirst()
        queuedBytes -= item.bytes
        writing = true
        return item.message
    }

    /// The socket took the message in flight.
    mutating func wrote(now: Instant) {
        writing = false
        waitingSince = items.isEmpty ? nil : now
    }

    /// Nothing more will be queued; what is queued may still be written.
    mutating func finish() {
        isFinished = true
    }

    /// True once something has waited `stallTimeout` with no write completing.
    func isStalled(now: Instant) -> Bool {
        guard let waitingSince else { return false }
        return now - waitingSince >= limits.stallTimeout
    }
}
