/// What a datagram arriving on a WebRTC 5-tuple is, from its first bytes (RFC 7983 §7).
///
/// First byte 0-3 is STUN, 20-63 DTLS, 128-191 RTP or RTCP; RTCP is told apart from RTP by
/// its second byte, whose low seven bits fall in 64-95 for RTCP packet types 192-223
/// (RFC 5761 §4). `RelayEncapsulation.marker` (a byte RFC 7983 leaves unassigned) is a
/// datagram a relay wrapped. Everything else (ZRTP, TURN channels, garbage) is `unknown`.
public enum PacketKind: Sendable, Equatable {
    case stun, dtls, rtp, rtcp, relayed, unknown

    /// Classifies by the first two bytes; inlinable so every caller gets it specialized for
    /// its collection type (a generic call here costs an allocation per packet).
    @inlinable
    public init(_ datagram: some Collection<UInt8>) {
        var bytes = datagram.makeIterator()
        let first = bytes.next()
        self.init(first: first, second: first == nil ? nil : bytes.next())
    }

    /// Classifies by a datagram's first and second bytes (nil where it is shorter).
    public init(first: UInt8?, second: UInt8?) {
        guard let first else {
            self = .unknown
            return
        }
        switch first {
        case 0...3:
            self = .stun
        case 20...63:
            self = .dtls
        case 128...191:
            guard let second else {
                self = .unknown
                return
            }
            self = (64...95).contains(second & 0x7F) ? .rtcp : .rtp
        case RelayEncapsulation.marker:
            self = .relayed
        default:
            self = .unknown
        }
    }
}
