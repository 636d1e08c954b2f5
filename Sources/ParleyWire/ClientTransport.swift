/// How a client reaches the relay: UDP datagrams, or ICE-TCP (RFC 6544) frames on a TCP
/// connection. The relay encapsulation carries it (docs/relay-encapsulation.md), so a
/// transceiver sends its replies back the way the client came: a TCP client's replies must
/// reach the relay's TCP worker, which writes them, framed, on the client's connection.
public enum ClientTransport: UInt8, Sendable, Hashable, CustomStringConvertible {
    case udp
    case tcp

    /// `udp` or `tcp`, as SDP candidates and metric labels spell it (RFC 8839 §5.1).
    public var description: String {
        switch self {
        case .udp: "udp"
        case .tcp: "tcp"
        }
    }
}
