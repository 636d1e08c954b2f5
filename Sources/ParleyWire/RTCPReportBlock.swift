/// One reception report block of an SR or RR (RFC 3550 §6.4.1), 24 bytes on the wire.
public struct RTCPReportBlock: Sendable, Equatable {
    /// The source this block reports on.
    public var ssrc: UInt32
    /// Packets lost since the last report, as a fixed-point fraction of 256.
    public var fractionLost: UInt8
    /// Packets lost since reception began: a signed 24-bit count, clamped to that range on encoding.
    public var cumulativeLost: Int32
    public var extendedHighestSequence: UInt32
    /// Interarrival jitter in timestamp units.
    public var jitter: UInt32
    /// The middle 32 bits of the last SR's NTP timestamp (LSR), 0 when none was received.
    public var lastSenderReport: UInt32
    /// Delay since that SR in 1/65536 s (DLSR).
    public var delaySinceLastSenderReport: UInt32

    public init(ssrc: UInt32, fractionLost: UInt8 = 0, cumulativeLost: Int32 = 0, extendedHighestSequence: UInt32 = 0,
                jitter: UInt32 = 0, lastSenderReport: UInt32 = 0, delaySinceLastSenderReport: UInt32 = 0) {
        self.ssrc = ssrc
        self.fractionLost = fractionLost
        self.cumulativeLost = cumulativeLost
        self.extendedHighestSequence = extendedHighestSequence
        self.jitter = jitter
        self.lastSenderReport = lastSenderReport
        self.delaySinceLastSenderReport = delaySinceLastSenderReport
    }

    static let size = 24

    init?(reading reader: inout BigEndianReader) {
        guard let ssrc = reader.read(UInt32.self), let lossWord = reader.read(UInt32.self),
              let highest = reader.read(UInt32.self), let jitter = reader.read(UInt32.self),
              let lsr = reader.read(UInt32.self), let dlsr = reader.read(UInt32.self) else { return nil }
        // The low 24 bits hold a two's-complement count: shift up then arithmetically back down.
        let cumulative = Int32(bitPattern: lossWord << 8) >> 8
        self.init(ssrc: ssrc, fractionLost: UInt8(lossWord >> 24), cumulativeLost: cumulative,
                  extendedHighestSequence: highest, jitter: jitter, lastSenderReport: lsr, delaySinceLastSenderReport: dlsr)
    }

    func append(to bytes: inout [UInt8]) {
        let clamped = Swift.min(Swift.max(cumulativeLost, -0x80_0000), 0x7F_FFFF)
        bytes.appendBigEndian(ssrc)
        bytes.appendBigEndian(UInt32(fractionLost) << 24 | UInt32(bitPattern: clamped) & 0x00FF_FFFF)
        bytes.appendBigEndian(extendedHighestSequence)
        bytes.appendBigEndian(jitter)
        bytes.appendBigEndian(lastSenderReport)
        bytes.appendBigEndian(delaySinceLastSenderReport)
    }
}
