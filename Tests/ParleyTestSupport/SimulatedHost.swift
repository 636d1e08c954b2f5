import ParleyWire

/// A sans-IO participant on a `SimulatedNetwork`: a peer connection, a DTLS endpoint, an SCTP
/// association, a relay; anything that takes datagrams and time and gives datagrams and a
/// deadline. Tests wrap each core in a small class conforming to this.
public protocol SimulatedHost: AnyObject {
    /// The addresses the host receives on: one for a peer, several for a relay.
    var addresses: [PeerAddress] { get }
    /// One datagram from `source`, sent to `destination` (one of `addresses`).
    func handle(_ payload: [UInt8], from source: PeerAddress, to destination: PeerAddress, now: Instant)
    func handleTimeout(now: Instant)
    /// The next datagram to send; the network calls this until nil after every input.
    func pollTransmit(now: Instant) -> SimulatedTransmit?
    func nextDeadline() -> Instant?
    /// Called once transmits are drained, for the host to record the events its core raised.
    func pollEvents()
}

extension SimulatedHost {
    public func pollEvents() {}
}

/// A datagram a host hands to the network.
public struct SimulatedTransmit: Sendable {
    public var source: PeerAddress
    public var destination: PeerAddress
    public var payload: [UInt8]

    public init(source: PeerAddress, destination: PeerAddress, payload: [UInt8]) {
        self.source = source
        self.destination = destination
        self.payload = payload
    }
}

/// A datagram in flight, as the network's `drop` and `rewrite` rules see it.
public struct SimulatedDatagram: Sendable {
    public var source: PeerAddress
    public var destination: PeerAddress
    public var payload: [UInt8]
    /// Which of its host's transmit rounds it left in, counted from 0 per host: a round is one
    /// drain of the host's transmits that found any, so a DTLS flight is usually one round.
    public var round: Int
}
