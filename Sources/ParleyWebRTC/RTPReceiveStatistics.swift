import ParleyWire

/// Reception statistics for one incoming RTP stream, as RFC 3550 §6.4.1 and Appendix A.3
/// and A.8 define them: extended highest sequence number, cumulative and fractional loss,
/// and interarrival jitter. Feeds the report blocks of our receiver and sender reports.
public struct RTPReceiveStatistics: Sendable {
    public private(set) var ssrc: UInt32
    public private(set) var packetsReceived: UInt64 = 0
    private var baseSequence: UInt32 = 0
    private var cycles: UInt32 = 0
    private var maxSequence: UInt16 = 0
    private var expectedPrior: UInt32 = 0
    private var receivedPrior: UInt64 = 0
    private var jitter: Double = 0
    private var lastTransit: Int64?
    private let clockRate: Int64

    public init(ssrc: UInt32, firstSequence: UInt16, clockRate: Int64 = 48_000) {
        self.ssrc = ssrc
        self.clockRate = clockRate
        baseSequence = UInt32(firstSequence)
        maxSequence = firstSequence &- 1
    }

    /// The interarrival jitter estimate (RFC 3550 §6.4.1, A.8) as a duration.
    public var jitterDuration: Duration {
        .nanoseconds(Int64(jitter * 1e9 / Double(clockRate)))
    }

    /// The extended highest sequence number received (RFC 3550 §6.4.1).
    public var extendedHighestSequence: UInt32 { cycles + UInt32(maxSequence) }

    /// Packets expected minus packets received since the first one; may be negative with duplicates.
    public var cumulativeLost: Int64 {
        Int64(extendedHighestSequence) - Int64(baseSequence) + 1 - Int64(packetsReceived)
    }

    /// Records one packet: its sequence number, RTP timestamp and arrival time (RFC 3550 A.1, A.8).
    public mutating func record(sequenceNumber: UInt16, rtpTimestamp: UInt32, arrival: Instant) {
        packetsReceived += 1
        let delta = sequenceNumber &- maxSequence
        if delta < 0x8000 {
            if sequenceNumber < maxSequence { cycles &+= 1 << 16 }
            maxSequence = sequenceNumber
        }
        let arrivalTicks = arrival.nanoseconds / 1_000 * clockRate / 1_000_000
        let transit = arrivalTicks - Int64(rtpTimestamp)
        if let lastTransit {
            let d = Double(abs(transit - lastTransit))
            jitter += (d - jitter) / 16
        }
        lastTransit = transit
    }

    /// Builds a report block and starts the next reporting interval (RFC 3550 §6.4.1, A.3).
    public mutating func makeReportBlock(lastSenderReport: UInt32, delaySinceLastSenderReport: UInt32) -> RTCPReportBlock {
        let expected = extendedHighestSequence &- baseSequence &+ 1
        let expectedInterval = Int64(expected) - Int64(expectedPrior)
        let receivedInterval = Int64(packetsReceived) - Int64(receivedPrior)
        expectedPrior = expected
        receivedPrior = packetsReceived
        let lostInterval = expectedInterval - receivedInterval
        let fraction: UInt8 = (expectedInterval <= 0 || lostInterval <= 0)
            ? 0 : UInt8(min(255, (lostInterval << 8) / expectedInterval))
        let lost = Int32(clamping: max(-0x80_0000, min(0x7F_FFFF, cumulativeLost)))
        return RTCPReportBlock(
            ssrc: ssrc,
            fractionLost: fraction,
            cumulativeLost: lost,
            extendedHighestSequence: extendedHighestSequence,
            jitter: UInt32(jitter),
            lastSenderReport: lastSenderReport,
            delaySinceLastSenderReport: delaySinceLastSenderReport
        )
    }
}
