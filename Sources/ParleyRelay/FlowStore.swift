import ParleyWire

/// Soft state that outlives one relay process: which transceiver a client address was
/// routed to, so a restarted relay recovers flows before the next STUN consent check
/// (RFC 7675 §5.1, every 5 s or so) would re-verify a token. Consulted only for packets of
/// flows the relay does not know, never on the hot path of a known flow.
public protocol FlowStore: Sendable {
    /// Remembers that `client` is served by `transceiver` for `ttl` (refreshed by recording again).
    func record(client: PeerAddress, transceiver: PeerAddress, ttl: Duration) async throws
    /// The transceiver last recorded for `client`, or nil when none or expired.
    func lookup(client: PeerAddress) async throws -> PeerAddress?
}
