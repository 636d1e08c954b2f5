import ParleyWire

/// ICE-lite responder (RFC 8445 §2.5, §7.3) with consent freshness (RFC 7675).
///
/// It answers authenticated Binding requests and never sends checks of its own. A request is
/// answered only when its USERNAME is "localUfrag:remoteUfrag" (the remote part is learned from
/// the first valid check when the offer did not carry it), its MESSAGE-INTEGRITY verifies under
/// the local password and it carries ICE-CONTROLLING (a lite agent is always controlled,
/// RFC 8445 §6.1.1). Anything else is dropped without a reply, so an unauthenticated packet is
/// never answered with more bytes than it carried.
///
/// The first valid check selects its source address at once, so DTLS can start without waiting
/// for nomination; a later check with USE-CANDIDATE from another address selects that one.
/// Valid checks from the selected address refresh consent; `consentTimeout` without one (counted
/// from `init` until the first check) ends it with `.consentExpired`.
///
/// With SPED negotiated (`embedsDTLS`), checks carry the peer's DTLS handshake and responses
/// carry ours (`DTLSInSTUN`). A response is therefore encoded when it is polled, not when its
/// check arrives: the DTLS flight that answers an embedded datagram rides the response to the
/// very check that carried it.
public struct ICELiteAgent: Sendable {
    public enum Event: Sendable, Equatable {
        /// Media now goes to this address.
        case selected(PeerAddress)
        /// A valid check carried this new DTLS datagram (SPED), for DTLS.
        case embeddedDTLS([UInt8])
        /// No valid check from the selected address (or none at all) within the consent timeout.
        case consentExpired
    }

    /// Why a STUN message got no answer; raw values suit metric labels.
    public enum DropReason: String, Sendable {
        case notBindingRequest = "not_binding_request"
        case missingUsername = "missing_username"
        case wrongUsername = "wrong_username"
        case missingIntegrity = "missing_integrity"
        case badIntegrity = "bad_integrity"
        /// No ICE-CONTROLLING, or ICE-CONTROLLED: the peer is not acting as the controlling agent.
        case roleConflict = "role_conflict"
        /// An unknown attribute of the comprehension-required range (RFC 8489 §6.3.1).
        case unknownRequiredAttribute = "unknown_required_attribute"
        /// Consent already expired; the session is over.
        case consentExpired = "consent_expired"
    }

    public enum Verdict: Sendable, Equatable {
        case answered
        case dropped(DropReason)
    }

    public let local: ICECredentials
    /// The peer's ufrag: from the offer, or learned from the first valid check.
    public private(set) var remoteUfrag: String?
    public let consentTimeout: Duration
    /// Where media goes, once a valid check arrived.
    public private(set) var selectedAddress: PeerAddress?

    /// SPED's state when it was negotiated; nil otherwise. The connection hands it our DTLS
    /// flights and the end of the handshake.
    public internal(set) var dtlsInSTUN: DTLSInSTUN?

    /// A success response owed to a valid check, encoded when polled.
    private struct Response: Sendable {
        var destination: PeerAddress
        var transactionID: STUNTransactionID
    }

    private let integrityKey: [UInt8]
    /// When consent runs out; nil once it has.
    private var consentDeadline: Instant?
    private var responses: [Response] = []
    private var events: [Event] = []

    public init(local: ICECredentials, remoteUfrag: String?, now: Instant, consentTimeout: Duration = .seconds(30),
                embedsDTLS: Bool = false) {
        self.local = local
        self.remoteUfrag = remoteUfrag
        self.consentTimeout = consentTimeout
        self.integrityKey = Array(local.password.utf8)
        self.consentDeadline = now + consentTimeout
        self.dtlsInSTUN = embedsDTLS ? DTLSInSTUN() : nil
    }

    /// Checks one STUN message from `source` and queues the success response when it is a
    /// valid connectivity check (RFC 8445 §7.3.1, RFC 8489 §6.3.1): XOR-MAPPED-ADDRESS set to
    /// `source`, SPED's attributes when negotiated, MESSAGE-INTEGRITY under the local
    /// password, FINGERPRINT.
    public mutating func handle(_ message: STUNMessage, from source: PeerAddress, now: Instant) -> Verdict {
        handleTimeout(now: now)
        guard consentDeadline != nil else { return .dropped(.consentExpired) }
        guard message.messageClass == .request, message.method == .binding else { return .dropped(.notBindingRequest) }
        guard let username = message.username else { return .dropped(.missingUsername) }
        let parts = username.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == local.ufrag, !parts[1].isEmpty,
              remoteUfrag.map({ $0 == parts[1] }) ?? true else { return .dropped(.wrongUsername) }
        guard message.messageIntegrity != nil else { return .dropped(.missingIntegrity) }
        guard message.hasValidMessageIntegrity(key: integrityKey) else { return .dropped(.badIntegrity) }
        guard message.iceControlling != nil, message.iceControlled == nil else { return .dropped(.roleConflict) }
        let hasUnknownRequired = message.attributes.contains {
            if case .unknown = $0 { return $0.isComprehensionRequired }
            return false
        }
        guard !hasUnknownRequired else { return .dropped(.unknownRequiredAttribute) }

        if remoteUfrag == nil { remoteUfrag = String(parts[1]) }
        responses.append(Response(destination: source, transactionID: message.transactionID))
        if selectedAddress == nil || (message.useCandidate && selectedAddress != source) {
            selectedAddress = source
            events.append(.selected(source))
        }
        if let datagram = dtlsInSTUN?.receive(message) { events.append(.embeddedDTLS(datagram)) }
        if source == selectedAddress { consentDeadline = now + consentTimeout }
        return .answered
    }

    /// Ends consent once its deadline has passed (RFC 7675 §5.1).
    public mutating func handleTimeout(now: Instant) {
        guard let deadline = consentDeadline, now >= deadline else { return }
        consentDeadline = nil
        events.append(.consentExpired)
    }

    /// The next response. Our DTLS datagrams ride only responses to the selected address: a
    /// check from anywhere else (another candidate pair, or a source an attacker with the call's
    /// password spoofed) gets the acknowledgements and an empty datagram, so a response is never
    /// much larger than its check.
    public mutating func pollTransmit() -> Transmit? {
        guard !responses.isEmpty else { return nil }
        let owed = responses.removeFirst()
        let embedded = owed.destination == selectedAddress
            ? dtlsInSTUN?.attributesToSend() ?? []
            : dtlsInSTUN?.acknowledgementsToSend() ?? []
        let response = STUNMessage(
            class: .successResponse, method: .binding, transactionID: owed.transactionID,
            attributes: [.xorMappedAddress(owed.destination)] + embedded)
        return Transmit(destination: owed.destination, payload: response.encoded(integrityKey: integrityKey, fingerprint: true))
    }

    public mutating func pollEvent() -> Event? {
        events.isEmpty ? nil : events.removeFirst()
    }

    /// When consent expires unless a valid check arrives first; nil once it has expired.
    public func nextDeadline() -> Instant? {
        consentDeadline
    }
}
