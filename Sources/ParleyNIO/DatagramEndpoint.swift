import ParleyWire

/// A sans-IO endpoint as a `UDPDriver` drives it: datagrams and timeouts in, each with the
/// current `Instant`; datagrams out into memory the driver lends; one deadline.
///
/// The driver calls it only on its event loop. After every input (a read batch, a timeout,
/// an operation run through the driver) it drains `pollTransmit(into:)`, then arms one timer
/// at `nextDeadline()`.
public protocol DatagramEndpoint: AnyObject, SendableMetatype {
    /// The length of the buffer `pollTransmit(into:)` is given: enough for any datagram.
    var maxTransmitLength: Int { get }
    /// True once the endpoint will neither send nor receive again: the driver closes its
    /// socket after the last transmit.
    var isFinished: Bool { get }

    func handle(_ datagram: UnsafeRawBufferPointer, from source: PeerAddress, now: Instant)
    func handleTimeout(now: Instant)
    /// Writes the next datagram into `buffer`; nil when nothing is queued.
    func pollTransmit(into buffer: UnsafeMutableRawBufferPointer) -> OutgoingDatagram?
    func nextDeadline() -> Instant?
    /// The driver wrote everything `pollTransmit(into:)` gave after one input: a place for
    /// per-batch bookkeeping (counters published once per batch instead of per datagram).
    func didFlush()
}

extension DatagramEndpoint {
    public var isFinished: Bool { false }
    public func didFlush() {}
}
