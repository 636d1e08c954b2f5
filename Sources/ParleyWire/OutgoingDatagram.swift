/// A datagram a sans-IO core wrote into memory its runtime lent (quinn's
/// `poll_transmit(now, buf)`): where it goes and how many bytes of the buffer it filled.
public struct OutgoingDatagram: Sendable, Equatable {
    public var destination: PeerAddress
    public var length: Int

    public init(destination: PeerAddress, length: Int) {
        self.destination = destination
        self.length = length
    }
}
