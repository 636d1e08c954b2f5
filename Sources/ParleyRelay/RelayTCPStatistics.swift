/// The TCP workers' counters summed at one moment: what `/metrics` reports under
/// `parley_relay_tcp_*`.
public struct RelayTCPStatistics: Sendable, Equatable {
    var values: [UInt64]

    init(values: [UInt64]) {
        self.values = values
    }

    /// Connections accepted (before any refusal).
    public var accepted: UInt64 { values[RelayTCPCounter.accepted] }
    /// Connections refused at accept for `reason`.
    public func refused(_ reason: RelayTCPRefusal) -> UInt64 { values[RelayTCPCounter.refused(reason)] }
    /// Connections whose first frame carried a verified routing token.
    public var admitted: UInt64 { values[RelayTCPCounter.admitted] }
    /// Connections closed for `reason`.
    public func closed(_ reason: RelayTCPCloseReason) -> UInt64 { values[RelayTCPCounter.closed(reason)] }
    /// Complete frames received from clients.
    public var framesReceived: UInt64 { values[RelayTCPCounter.framesReceived] }
    /// Frames dropped for `reason`.
    public func dropped(_ reason: RelayTCPFrameDropReason) -> UInt64 { values[RelayTCPCounter.dropped(reason)] }
    /// Frames passed on in `direction` (client to transceiver or peer relay as datagrams, and back as frames).
    public func forwarded(_ direction: RelayDirection) -> UInt64 { values[RelayTCPCounter.forwarded(direction)] }
    /// Bytes passed on in `direction`: encapsulation headers toward transceivers, length prefixes toward clients.
    public func forwardedBytes(_ direction: RelayDirection) -> UInt64 { values[RelayTCPCounter.forwardedBytes(direction)] }
    /// Connections open now.
    public var connections: UInt64 { values[RelayTCPCounter.connections] }
}
