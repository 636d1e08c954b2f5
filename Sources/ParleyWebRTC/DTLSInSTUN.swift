import ParleyWire

/// SPED, the STUN Protocol for Embedding DTLS (draft-hancke-webrtc-sped-00): the DTLS handshake
/// rides in the ICE Binding requests and responses, so ICE and DTLS proceed in parallel.
///
/// This is the state one ICE agent keeps for it ("ICE procedures"): the "pending" datagrams of
/// our current DTLS flight, each known by its CRC-32, sent one per STUN message in turn until
/// the peer acknowledges it; and the "received" CRC-32s of the peer's embedded datagrams, which
/// every message we send acknowledges. Sans-IO: the agent calls `receive(_:)` with each
/// authenticated Binding message and `attributesToSend()` for each one it encodes; the
/// connection hands over each DTLS flight with `embed(flight:)` and reports the end of the
/// handshake.
///
/// Negotiation is by the `sped` ICE option in SDP ("SDP Offer/Answer Procedures") and in band:
/// a peer whose Binding message carries neither attribute while we are still `tentative` does
/// not speak SPED, and we fall back to DTLS records on their own (`off`). After the handshake
/// we keep acknowledging and resending until the peer has all of our last flight, then stop
/// (`complete`), as libwebrtc does.
public struct DTLSInSTUN: Sendable {
    public enum State: String, Sendable {
        /// Negotiated in SDP; the peer has not shown yet whether it embeds.
        case tentative
        /// The peer sent SPED attributes.
        case confirmed
        /// Our DTLS is connected; some of our last flight is still unacknowledged.
        case finishing
        /// Done: no more SPED attributes go out, and received ones are ignored.
        case complete
        /// The peer does not speak SPED; DTLS records travel on their own.
        case off
    }

    private struct PendingDatagram: Sendable {
        var hash: UInt32
        var datagram: [UInt8]
    }

    public private(set) var state = State.tentative
    private var pending: [PendingDatagram] = []
    /// The pending datagram the next message carries (round robin, "For pairs that are in WAITING state").
    private var nextPending = 0
    /// CRC-32s of the peer's datagrams, oldest first, at most `maximumDTLSAcknowledgements`.
    private var received: [UInt32] = []

    public init() {}

    /// True while SPED attributes are sent and read.
    public var isActive: Bool {
        state == .tentative || state == .confirmed || state == .finishing
    }

    /// Reads the SPED attributes of an authenticated Binding request or response. Returns the
    /// embedded DTLS datagram for DTLS when it is one we have not received before; datagrams
    /// that are empty or do not start like DTLS (RFC 9443 §3: 20 to 63) are discarded.
    public mutating func receive(_ message: STUNMessage) -> [UInt8]? {
        guard isActive else { return nil }
        let datagram = message.dtlsInSTUN
        let acknowledged = message.dtlsInSTUNAcknowledgement
        if state == .tentative {
            guard datagram != nil || acknowledged != nil else {
                stop(.off)
                return nil
            }
            state = .confirmed
        }
        if let acknowledged, !acknowledged.isEmpty {
            pending.removeAll { acknowledged.contains($0.hash) }
            nextPending = 0
        }
        var fresh: [UInt8]?
        if let datagram, let first = datagram.first, (20...63).contains(first) {
            let hash = CRC32.isoHDLC.checksum(datagram)
            if !received.contains(hash) {
                if received.count == STUNAttribute.maximumDTLSAcknowledgements { received.removeFirst() }
                received.append(hash)
                fresh = datagram
            }
        }
        if state == .finishing, pending.isEmpty { stop(.complete) }
        return fresh
    }

    /// The attributes for the next Binding request or response we send: the acknowledgements
    /// first, as the draft recommends, then the next pending datagram, or an empty one that
    /// says we speak SPED.
    public mutating func attributesToSend() -> [STUNAttribute] {
        guard isActive else { return [] }
        var datagram: [UInt8] = []
        if !pending.isEmpty {
            datagram = pending[nextPending % pending.count].datagram
            nextPending = (nextPending + 1) % pending.count
        }
        return [.dtlsInSTUNAcknowledgement(received), .dtlsInSTUN(datagram)]
    }

    /// The attributes for a message that must not carry our datagrams: the acknowledgements and
    /// an empty META-DTLS-IN-STUN (nothing to send here; leaving it out would tell the peer we
    /// are done, "Inband discovery and negotiation").
    public func acknowledgementsToSend() -> [STUNAttribute] {
        guard isActive else { return [] }
        return [.dtlsInSTUNAcknowledgement(received), .dtlsInSTUN([])]
    }

    /// DTLS wrote a flight, or wrote one again after its retransmission timer: it replaces the
    /// pending datagrams ("Receipt acknowledgements").
    public mutating func embed(flight: [[UInt8]]) {
        guard isActive else { return }
        pending = flight.map { PendingDatagram(hash: CRC32.isoHDLC.checksum($0), datagram: $0) }
        nextPending = 0
    }

    /// Our DTLS handshake completed ("Completion of the DTLS handshake"). A DTLS 1.2 client's
    /// last flight was acknowledged by the server's Finished, so nothing stays pending; a DTLS
    /// 1.2 server keeps its Finished pending until the peer acknowledges it.
    public mutating func handshakeCompleted(isDTLSClient: Bool) {
        guard isActive else { return }
        if isDTLSClient { pending = [] }
        if pending.isEmpty { stop(.complete) } else { state = .finishing }
    }

    /// The peer sent SRTP or data-channel records: it holds the keys, so it has our whole flight.
    public mutating func peerConnected() {
        guard state == .finishing else { return }
        stop(.complete)
    }

    private mutating func stop(_ final: State) {
        state = final
        pending = []
        received = []
        nextPending = 0
    }
}
