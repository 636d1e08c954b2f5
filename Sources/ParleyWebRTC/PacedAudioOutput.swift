import ParleyWire

/// Outgoing audio paced in real time: one 20 ms frame every 20 ms, whatever the rate at
/// which frames are queued, with RTP timestamps that advance one frame per packet during a
/// talk spurt and jump by the elapsed time, with the marker bit, after a pause
/// (RFC 3551 §4.1, RFC 7587 §4.1: 48 kHz RTP clock for Opus).
///
/// Queued frames can be cleared at once (barge-in), and the pacer reports how much was
/// actually played, so whoever produced the audio can truncate its own record of it.
public struct PacedAudioOutput: Sendable {
    /// One frame due now, with its RTP media time in 48 kHz ticks from the stream start.
    public struct Frame: Sendable, Equatable {
        public var samples: [Int16]
        public var mediaTime: UInt32
        public var marker: Bool
        /// What the producer said this frame belongs to (a response id, say).
        public var tag: String?
    }

    public static let frameDuration: Duration = .milliseconds(20)
    private static let ticksPerFrame: UInt32 = 960

    /// Frames beyond this many are dropped, oldest first, and counted.
    public let capacity: Int
    public private(set) var framesPlayed: UInt64 = 0
    public private(set) var framesDropped: UInt64 = 0

    private var queue: [(samples: [Int16], tag: String?)] = []
    private var head = 0
    private var nextSend: Instant?
    private var streamStart: Instant?
    private var mediaTime: UInt32 = 0
    /// True from the first frame of a talk spurt until a due frame finds the queue empty.
    public private(set) var isPlaying = false

    /// 60 s of frames: a whole spoken answer generated faster than real time fits.
    public static let defaultCapacity = 3_000

    public init(capacity: Int = defaultCapacity) {
        self.capacity = capacity
    }

    public var queuedFrames: Int { queue.count - head }

    /// Queues one frame of samples; sending starts at once if the pacer was idle.
    public mutating func enqueue(_ samples: [Int16], tag: String? = nil, now: Instant) {
        if queuedFrames >= capacity {
            head += 1
            framesDropped += 1
        }
        queue.append((samples, tag))
        if nextSend == nil { nextSend = now }
    }

    /// The frame to send now, if one is due.
    public mutating func poll(now: Instant) -> Frame? {
        guard let due = nextSend, due <= now else { return nil }
        guard head < queue.count else {
            queue.removeAll(keepingCapacity: true)
            head = 0
            nextSend = nil
            isPlaying = false
            return nil
        }
        let (samples, tag) = queue[head]
        head += 1
        if head > 64, head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
        let marker: Bool
        if let streamStart {
            if isPlaying {
                mediaTime &+= Self.ticksPerFrame
                marker = false
            } else {
                let elapsed = UInt32(truncatingIfNeeded: (due - streamStart).nanosecondsRounded * 48 / 1_000_000)
                let frames = (elapsed + Self.ticksPerFrame - 1) / Self.ticksPerFrame
                mediaTime = max(mediaTime &+ Self.ticksPerFrame, frames &* Self.ticksPerFrame)
                marker = true
            }
        } else {
            streamStart = due
            mediaTime = 0
            marker = true
        }
        isPlaying = true
        framesPlayed += 1
        // Keep a fixed cadence; after a stall longer than a few frames, restart it rather than burst.
        let next = due + Self.frameDuration
        nextSend = now - next > .milliseconds(60) ? now + Self.frameDuration : next
        return Frame(samples: samples, mediaTime: mediaTime, marker: marker, tag: tag)
    }

    public func nextDeadline() -> Instant? { nextSend }

    /// Drops every queued frame and returns how many were dropped; the frame on the wire stays sent.
    @discardableResult
    public mutating func clear() -> Int {
        let dropped = queuedFrames
        queue.removeAll(keepingCapacity: true)
        head = 0
        return dropped
    }
}
