/// The relay's counters summed over its workers at one moment: what `/metrics` reports.
public struct RelayStatistics: Sendable, Equatable {
    var values: [UInt64]

    init(values: [UInt64]) {
        self.values = values
    }

    /// Datagrams dropped for `reason`.
    public func dropped(_ reason: RelayDropReason) -> UInt64 { values[RelayCounter.drop(reason)] }
    /// Datagrams dropped for any reason.
    public var droppedTotal: UInt64 { RelayDropReason.allCases.reduce(0) { $0 + dropped($1) } }
    /// Datagrams passed on in `direction`.
    public func forwarded(_ direction: RelayDirection) -> UInt64 { values[RelayCounter.forwarded(direction)] }
    /// Bytes passed on in `direction` (with the encapsulation header where one was sent).
    public func forwardedBytes(_ direction: RelayDirection) -> UInt64 { values[RelayCounter.forwardedBytes(direction)] }
    /// Datagrams received on sockets of `role`.
    public func received(_ role: RelaySocketRole) -> UInt64 { values[RelayCounter.received(role)] }
    /// Flows created from `source`.
    public func flowsCreated(_ source: RelayFlowSource) -> UInt64 { values[RelayCounter.created(source)] }
    /// Flows removed after their idle timeout.
    public var flowsExpired: UInt64 { values[RelayCounter.expired] }
    /// Flow-store lookups the workers asked for.
    public var lookupsRequested: UInt64 { values[RelayCounter.lookupsRequested] }
    /// Restored flows refused: their next hop was outside the transceiver networks.
    public var restoresRefused: UInt64 { values[RelayCounter.restoresRefused] }
    /// Flows in the workers' tables now.
    public var flows: UInt64 { values[RelayCounter.flows] }
}
