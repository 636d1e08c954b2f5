import ParleyWire

/// The inbound reorder and playout buffer of one Opus audio stream (RFC 3550 §5.1, §6.4.1,
/// Appendix A.1; RFC 7587 §4.1: a 48 kHz RTP clock). Sans-IO: it holds packets and says, one
/// frame at a time, what the decoder should do; time comes in as `Instant`.
///
/// Each packet is due at its RTP timestamp mapped to local time plus a playout delay, the
/// *depth*: a packet that comes out of order but within the depth is played in order; one that
/// comes after its slot was played is discarded and counted as late. The depth is the 95th
/// percentile of recent packets' delay over the fastest of them, plus one packet duration so
/// that the packet after a lost one has usually arrived by the lost one's slot and its in-band
/// FEC can rebuild it (RFC 6716 §2.1.7). It grows at once and shrinks by at most
/// `shrinkPerFrame` per played frame, within `minimumDepth…maximumDepth` (20…120 ms by default:
/// a voice agent hears the caller that much later, so the floor stays at one packet of FEC
/// headroom). The first packet plays as it arrives (`initialDepth` 0), so neither call set-up
/// nor a caller's first words wait for the buffer; the depth reaches its floor with the next
/// packet. Depth changes move the playout clock, never the audio: no frame is dropped or
/// invented to change the delay.
///
/// Packets of any Opus duration work: a packet lasts until the RTP timestamp of the next
/// sequence number (RFC 3550 §5.1), or as long as the stream's last such step when that one is
/// not here yet. Concealment and FEC use that duration too.
///
/// Each step yields one `Playout`: decode a packet; rebuild a lost one from the FEC data of
/// the packet after it when that one is here; otherwise conceal (RFC 6716 §4.4). A packet is
/// known lost only once a later one is here: with nothing buffered, playout waits for the next
/// packet instead of concealing, so a stalled path or sender loses no audio (the backend gets
/// the held-up frames at once when they come, the depth grows from their delay, and an idle or
/// discontinuous (DTX) stream costs nothing). A gap is concealed for at most
/// `maximumConcealedRun` frames and the rest of a longer one is skipped; a timestamp jump with
/// no sequence gap is silence, not loss, and is not concealed.
///
/// Memory is bounded whatever arrives: at most `capacity` packets (beyond that the one with
/// the highest sequence number goes, so a flood of far-future numbers cannot push out the
/// packets due next), and a fixed window of delay samples.
///
/// ```swift
/// var buffer = AudioJitterBuffer()
/// buffer.insert(receivedAudio, now: now)            // on every PeerConnection `.audio` event
/// while let step = buffer.poll(now: now) {          // whenever nextDeadline() has passed
///     switch step {
///     case .decode(let packet): pcm = try decoder.decode(packet.payload)
///     case .decodeFEC(let next, let ticks): pcm = try decoder.decodeMissing(frameSize: ticks / 2, fromNext: next.payload)
///     case .conceal(let ticks): pcm = try decoder.decodeMissing(frameSize: ticks / 2)   // 24 kHz decoder
///     }
/// }
/// arm(buffer.nextDeadline())
/// ```
public struct AudioJitterBuffer: Sendable {
    /// What to play for one frame. Durations are in 48 kHz RTP ticks (RFC 7587 §4.1).
    public enum Playout: Sendable, Equatable {
        /// Decode this packet.
        case decode(PeerConnection.ReceivedAudio)
        /// The packet before `next` was lost: rebuild its `duration` ticks from the in-band FEC
        /// data that `next` carries (RFC 6716 §2.1.7). `next` itself is decoded at its own slot.
        case decodeFEC(next: PeerConnection.ReceivedAudio, duration: Int)
        /// Nothing to play: conceal `duration` ticks (RFC 6716 §4.4).
        case conceal(duration: Int)
    }

    /// What happened to packets and frames so far; the runtime exports these as counters.
    public struct Counters: Sendable, Equatable {
        /// Packets handed out for decoding.
        public var played: UInt64 = 0
        /// Packets that arrived after their slot was played or concealed, discarded.
        public var late: UInt64 = 0
        /// Packets already buffered or played, discarded.
        public var duplicate: UInt64 = 0
        /// Packets dropped because `capacity` packets were buffered.
        public var overflow: UInt64 = 0
        /// Packets whose sequence number jumped too far from the stream's (RFC 3550 A.1),
        /// discarded unless the next packet confirms the jump.
        public var sequenceJump: UInt64 = 0
        /// Buffered packets discarded when the stream restarted (new SSRC, confirmed sequence
        /// jump, or a timestamp that no longer matches the arrival clock).
        public var flushed: UInt64 = 0
        /// Times the stream restarted.
        public var resynchronizations: UInt64 = 0
        /// Frames concealed.
        public var concealed: UInt64 = 0
        /// Lost packets rebuilt from the next packet's FEC data.
        public var fecRecovered: UInt64 = 0

        public init() {}
    }

    /// RFC 7587 §4.1: Opus RTP timestamps count 48 kHz ticks whatever the coded bandwidth.
    public static let ticksPerSecond: Int64 = 48_000
    /// Packets held at most.
    public static let capacity = 64
    /// Frames of one gap concealed at most; the rest of a longer gap is skipped.
    public static let maximumConcealedRun = 5
    /// RFC 3550 A.1: forward jumps of this many sequence numbers or more need a second packet to confirm.
    static let maximumDropout: Int64 = 3_000
    /// RFC 3550 A.1: packets this far behind the highest sequence number are a restart, not reordering.
    static let maximumMisorder: Int64 = 100
    /// A packet whose RTP timestamp and arrival disagree by more than this with the stream's
    /// restarts the stream's timeline: the sender's clock jumped.
    static let timelineJump: Duration = .seconds(1)
    /// Opus durations are whole multiples of 2.5 ms (RFC 6716 §2.1.4).
    static let tickGranularity: Int64 = 120
    /// The longest Opus packet: 120 ms (RFC 6716 §3.2.5).
    static let longestPacket: Int64 = 5_760
    /// 20 ms, the usual WebRTC packet duration, until the stream shows another.
    static let defaultPacketTicks: Int64 = 960

    public let minimumDepth: Duration
    public let maximumDepth: Duration
    public let initialDepth: Duration
    public let shrinkPerFrame: Duration
    public private(set) var counters = Counters()

    private struct Entry: Sendable {
        var sequence: Int64
        var timestamp: Int64
        var audio: PeerConnection.ReceivedAudio
    }

    private enum Step {
        case decode
        case recover(ticks: Int64)
        case conceal(ticks: Int64)
    }

    private var ssrc: UInt32?
    /// Extended highest sequence number and its extended RTP timestamp (RFC 3550 §6.4.1).
    private var highestSequence: Int64 = 0
    private var highestTimestamp: Int64 = 0
    /// RFC 3550 A.1 `bad_seq`: the sequence number that would confirm a jump.
    private var probationSequence: UInt16?
    /// Lowest sequence number still playable.
    private var nextSequence: Int64 = 0
    /// RTP time (extended ticks) up to which playout has gone.
    private var playhead: Int64 = 0
    /// Bit i: sequence number `lastPlayed - i` was played (to tell duplicates from late packets).
    private var lastPlayed: Int64?
    private var lastPlayedTimestamp: Int64?
    private var playedMask: UInt64 = 0
    /// Buffered packets by ascending sequence number.
    private var packets: [Entry] = []
    private var packetTicks = defaultPacketTicks
    private var concealedRun = 0
    private var delays = DelayWindow()
    /// Local time of RTP tick 0 at the current playout delay: a tick's deadline is
    /// `offset + ticks` in nanoseconds.
    private var offset: Int64 = 0

    /// Depths outside 0…1 s are clamped; `initialDepth` may be below `minimumDepth` (the
    /// first packet then plays sooner) but not above `maximumDepth`.
    public init(
        minimumDepth: Duration = .milliseconds(20),
        maximumDepth: Duration = .milliseconds(120),
        initialDepth: Duration = .zero,
        shrinkPerFrame: Duration = .milliseconds(2)
    ) {
        let lower = max(.zero, min(minimumDepth, .seconds(1)))
        let upper = max(lower, min(maximumDepth, .seconds(1)))
        self.minimumDepth = lower
        self.maximumDepth = upper
        self.initialDepth = max(.zero, min(initialDepth, upper))
        self.shrinkPerFrame = max(.zero, shrinkPerFrame)
    }

    /// The current playout delay over the fastest recent packet.
    public var depth: Duration {
        .nanoseconds(offset - (delays.minimum ?? offset))
    }

    /// Packets waiting to be played.
    public var bufferedPackets: Int { packets.count }

    /// The stream's packet duration in 48 kHz ticks, as its RTP timestamps show (960 = 20 ms).
    public var packetDuration: Int { Int(packetTicks) }

    /// Takes one received packet (RFC 3550 A.1 sequence checks, then into the buffer by sequence
    /// number). `now` is its arrival time.
    public mutating func insert(_ audio: PeerConnection.ReceivedAudio, now: Instant) {
        guard ssrc == audio.ssrc else {
            if ssrc != nil { restart(with: audio, now: now) } else { start(with: audio, now: now) }
            return
        }
        let delta = Int64(Int16(bitPattern: audio.sequenceNumber &- UInt16(truncatingIfNeeded: highestSequence)))
        guard delta < Self.maximumDropout, delta >= -Self.maximumMisorder else {
            if audio.sequenceNumber == probationSequence {
                restart(with: audio, now: now)
            } else {
                probationSequence = audio.sequenceNumber &+ 1
                counters.sequenceJump += 1
            }
            return
        }
        probationSequence = nil
        let sequence = highestSequence + delta
        let timestamp = highestTimestamp
            + Int64(Int32(bitPattern: audio.rtpTimestamp &- UInt32(truncatingIfNeeded: highestTimestamp)))

        if sequence < nextSequence || packets.contains(where: { $0.sequence == sequence }) {
            if sequence >= nextSequence || hasPlayed(sequence) {
                counters.duplicate += 1
            } else {
                counters.late += 1
                let transit = Self.transit(arrival: now, timestamp: timestamp)
                if fitsTimeline(transit) {
                    delays.record(transit)
                    growDepth()
                }
            }
            return
        }
        let transit = Self.transit(arrival: now, timestamp: timestamp)
        guard fitsTimeline(transit) else {
            restart(with: audio, now: now)
            return
        }
        if sequence > highestSequence {
            highestSequence = sequence
            highestTimestamp = timestamp
        }
        delays.record(transit)
        growDepth()
        if timestamp <= playhead - Self.tickGranularity {
            counters.late += 1
            return
        }
        let entry = Entry(sequence: sequence, timestamp: timestamp, audio: audio)
        let index = packets.firstIndex(where: { $0.sequence > sequence }) ?? packets.endIndex
        if packets.count >= Self.capacity {
            counters.overflow += 1
            guard index < packets.endIndex else { return }
            packets.removeLast()
        }
        packets.insert(entry, at: index)
        learnPacketDuration(around: index)
    }

    /// When the next frame is due, or nil when nothing is buffered (playout waits for a packet).
    public func nextDeadline() -> Instant? {
        plan().map { deadline(of: $0.start) }
    }

    /// The next frame's playout when its deadline has passed; nil otherwise. Call repeatedly
    /// until nil: a caller that wakes late gets every frame it missed.
    public mutating func poll(now: Instant) -> Playout? {
        guard let (start, step) = plan(), deadline(of: start) <= now else { return nil }
        shrinkDepth()
        playhead = max(playhead, start)
        switch step {
        case .decode:
            let head = packets.removeFirst()
            if let next = packets.first, next.sequence == head.sequence + 1,
               let step = Self.validDuration(next.timestamp - head.timestamp) {
                playhead = head.timestamp + step
            } else {
                playhead = head.timestamp + packetTicks
            }
            markPlayed(head.sequence)
            lastPlayedTimestamp = head.timestamp
            nextSequence = head.sequence + 1
            concealedRun = 0
            counters.played += 1
            return .decode(head.audio)
        case .recover(let ticks):
            let next = packets[0]
            playhead = next.timestamp
            nextSequence = next.sequence
            counters.fecRecovered += 1
            return .decodeFEC(next: next.audio, duration: Int(ticks))
        case .conceal(let ticks):
            playhead += ticks
            concealedRun += 1
            counters.concealed += 1
            return .conceal(duration: Int(ticks))
        }
    }

    // MARK: Playout plan

    /// The next step and the RTP time at which it starts.
    private func plan() -> (start: Int64, step: Step)? {
        guard ssrc != nil else { return nil }
        // Nothing here proves a loss yet: wait for the next packet.
        guard let head = packets.first else { return nil }
        let gap = head.timestamp - playhead
        if gap < Self.tickGranularity { return (playhead, .decode) }
        // A timestamp jump with no sequence gap: the sender paused (DTX); wait for the packet.
        if head.sequence == nextSequence { return (head.timestamp, .decode) }
        // At least one packet before `head` is lost. The one just before it can come back from
        // head's FEC data; earlier ones are concealed, within the concealment budget.
        let lost = Self.roundedDown(min(gap, packetTicks))
        if concealedRun >= Self.maximumConcealedRun { return (head.timestamp - lost, .recover(ticks: lost)) }
        if gap <= packetTicks { return (playhead, .recover(ticks: lost)) }
        return (playhead, .conceal(ticks: lost))
    }

    private func deadline(of ticks: Int64) -> Instant {
        Instant(nanoseconds: offset + Self.nanoseconds(ticks))
    }

    // MARK: Stream state

    private mutating func start(with audio: PeerConnection.ReceivedAudio, now: Instant) {
        ssrc = audio.ssrc
        probationSequence = nil
        highestSequence = Int64(audio.sequenceNumber)
        highestTimestamp = Int64(audio.rtpTimestamp)
        nextSequence = highestSequence
        playhead = highestTimestamp
        lastPlayed = nil
        lastPlayedTimestamp = nil
        playedMask = 0
        concealedRun = 0
        delays = DelayWindow()
        let transit = Self.transit(arrival: now, timestamp: highestTimestamp)
        delays.record(transit)
        offset = transit + initialDepth.nanosecondsRounded
        packets = [Entry(sequence: highestSequence, timestamp: highestTimestamp, audio: audio)]
    }

    private mutating func restart(with audio: PeerConnection.ReceivedAudio, now: Instant) {
        counters.flushed += UInt64(packets.count)
        counters.resynchronizations += 1
        start(with: audio, now: now)
    }

    /// False when a packet's transit is further from the stream's than any delay worth waiting
    /// for: the sender's RTP clock jumped, or a late packet says nothing about the depth.
    private func fitsTimeline(_ transit: Int64) -> Bool {
        guard let minimum = delays.minimum else { return true }
        return abs(transit - minimum) <= Self.timelineJump.nanosecondsRounded
    }

    private mutating func markPlayed(_ sequence: Int64) {
        if let lastPlayed {
            let shift = sequence - lastPlayed
            playedMask = shift >= 64 ? 0 : playedMask << UInt64(shift)
        }
        playedMask |= 1
        lastPlayed = sequence
    }

    private func hasPlayed(_ sequence: Int64) -> Bool {
        guard let lastPlayed, sequence <= lastPlayed, lastPlayed - sequence < 64 else { return false }
        return playedMask & (1 << UInt64(lastPlayed - sequence)) != 0
    }

    /// Takes the stream's packet duration from two consecutive sequence numbers (RFC 3550 §5.1).
    private mutating func learnPacketDuration(around index: Int) {
        let entry = packets[index]
        if index > 0, packets[index - 1].sequence == entry.sequence - 1,
           let step = Self.validDuration(entry.timestamp - packets[index - 1].timestamp) {
            packetTicks = step
        } else if index + 1 < packets.count, packets[index + 1].sequence == entry.sequence + 1,
                  let step = Self.validDuration(packets[index + 1].timestamp - entry.timestamp) {
            packetTicks = step
        } else if let lastPlayedTimestamp, lastPlayed == entry.sequence - 1,
                  let step = Self.validDuration(entry.timestamp - lastPlayedTimestamp) {
            packetTicks = step
        }
    }

    // MARK: Depth

    /// Where `offset` should be: the fastest recent packet's transit plus the depth.
    private var targetOffset: Int64 {
        guard let minimum = delays.minimum, let slow = delays.percentile95 else { return offset }
        let wanted = slow - minimum + Self.nanoseconds(packetTicks)
        let depth = max(minimumDepth.nanosecondsRounded, min(maximumDepth.nanosecondsRounded, wanted))
        return minimum + depth
    }

    private mutating func growDepth() {
        clampOffset()
        offset = max(offset, targetOffset)
    }

    private mutating func shrinkDepth() {
        clampOffset()
        offset = max(targetOffset, offset - shrinkPerFrame.nanosecondsRounded)
    }

    /// Keeps the depth within its bounds when the fastest recent transit moves.
    private mutating func clampOffset() {
        guard let minimum = delays.minimum else { return }
        offset = max(minimum + minimumDepth.nanosecondsRounded, min(minimum + maximumDepth.nanosecondsRounded, offset))
    }

    // MARK: Arithmetic

    private static func nanoseconds(_ ticks: Int64) -> Int64 {
        ticks * 1_000_000_000 / ticksPerSecond
    }

    /// Arrival time minus RTP time (RFC 3550 §6.4.1 "relative transit time"), in nanoseconds.
    private static func transit(arrival: Instant, timestamp: Int64) -> Int64 {
        arrival.nanoseconds - nanoseconds(timestamp)
    }

    private static func roundedDown(_ ticks: Int64) -> Int64 {
        max(tickGranularity, ticks / tickGranularity * tickGranularity)
    }

    /// `ticks` when it is a possible Opus packet duration.
    private static func validDuration(_ ticks: Int64) -> Int64? {
        ticks > 0 && ticks <= longestPacket && ticks % tickGranularity == 0 ? ticks : nil
    }
}

/// The transit times of the last `size` packets, in arrival order and sorted, for the
/// minimum and a percentile in constant memory.
struct DelayWindow: Sendable {
    static let size = 128
    private var ring: [Int64] = []
    private var next = 0
    private var sorted: [Int64] = []

    init() {
        ring.reserveCapacity(Self.size)
        sorted.reserveCapacity(Self.size)
    }

    var minimum: Int64? { sorted.first }

    var percentile95: Int64? {
        sorted.isEmpty ? nil : sorted[(sorted.count - 1) * 95 / 100]
    }

    mutating func record(_ transit: Int64) {
        if ring.count < Self.size {
            ring.append(transit)
        } else {
            sorted.remove(at: Self.insertionIndex(of: ring[next], in: sorted))
            ring[next] = transit
            next = (next + 1) % Self.size
        }
        sorted.insert(transit, at: Self.insertionIndex(of: transit, in: sorted))
    }

    /// The first index whose value is not below `value` (binary search).
    private static func insertionIndex(of value: Int64, in values: [Int64]) -> Int {
        var low = 0
        var high = values.count
        while low < high {
            let middle = (low + high) / 2
            if values[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
