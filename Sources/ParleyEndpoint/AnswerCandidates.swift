import ParleyWire

/// The candidates one answer carries (RFC 8839 §5.1): host candidates on UDP in priority
/// order, then `tcptype passive` ones (RFC 6544 §4.5) below them. Usually every answer
/// carries the same, the relays the transceiver advertises; a call steered to the ingress
/// of the caller's region carries that region's.
public struct AnswerCandidates: Sendable, Equatable {
    /// UDP addresses, highest priority first: a primary relay, then a secondary the client
    /// fails over to without a new offer when the primary stops answering.
    public var udp: [PeerAddress]
    public var tcp: [PeerAddress]

    public init(udp: [PeerAddress], tcp: [PeerAddress] = []) {
        self.udp = udp
        self.tcp = tcp
    }
}
