import ParleyWire

/// Controlling full-ICE agent for Parley's own client role (RFC 8445 §7.2) with aggressive
/// nomination (every check carries USE-CANDIDATE) and consent freshness (RFC 7675 §5.1).
///
/// It checks every remote candidate at once; each check is retransmitted with an RTO starting
/// at 50 ms and doubling up to 1.6 s, for at most 7 transmissions (RFC 8489 §6.2.1). The first
/// authenticated success response connects; when every check has given up, `.failed`. Once
/// connected, a consent check goes out every 5 s ± 20 % and consent ends after 30 s without an
/// authenticated response (`.consentExpired`). Binding requests from the peer are answered
/// when they authenticate under the local password.
///
/// With SPED negotiated (`embedsDTLS`), checks and responses carry the DTLS handshake
/// (`DTLSInSTUN`), so every message is encoded when it is polled, with the flight pending then;
/// a retransmitted check keeps its transaction ID and carries the next pending datagram.
public struct ICEControllingAgent: Sendable {
    public enum Event: Sendable, Equatable {
        case connected(PeerAddress)
        /// An authenticated message carried this new DTLS datagram (SPED), for DTLS.
        case embeddedDTLS([UInt8])
        case failed
        case consentExpired
    }

    public static let initialRTO: Duration = .milliseconds(50)
    public static let maximumRTO: Duration = .milliseconds(1600)
    public static let maximumTransmissions = 7
    public static let consentInterval: Duration = .seconds(5)
    public static let consentTimeout: Duration = .seconds(30)

    /// A peer-reflexive candidate's priority for component 1 (RFC 8445 §5.1.2.1, §7.1.1):
    /// type preference 110, local preference 65535.
    public static let checkPriority: UInt32 = 110 << 24 | 65_535 << 8 | (256 - 1)

    public let local: ICECredentials
    public let remote: ICECredentials
    public let tieBreaker: UInt64
    /// The nominated address once connected.
    public private(set) var selectedAddress: PeerAddress?
    /// SPED's state when it was negotiated; nil otherwise. The connection hands it our DTLS
    /// flights and the end of the handshake.
    public internal(set) var dtlsInSTUN: DTLSInSTUN?

    private struct Check: Sendable {
        var destination: PeerAddress
        var transactionID: STUNTransactionID
        var transmissions: Int
        var rto: Duration
        var nextTransmission: Instant
    }

    /// A message to send, encoded when polled.
    private enum Outgoing: Sendable {
        case request(to: PeerAddress, STUNTransactionID, nominating: Bool)
        case response(to: PeerAddress, STUNTransactionID)
    }

    private enum Phase: Sendable {
        case checking([Check])
        case connected(consentDeadline: Instant, nextConsentCheck: Instant, outstanding: [STUNTransactionID])
        case finished
    }

    private var phase: Phase
    private var random: ICERandomSource
    private let remoteKey: [UInt8]
    private let localKey: [UInt8]
    private var outgoing: [Outgoing] = []
    private var events: [Event] = []

    /// Starts checking `remoteCandidates` now. Transaction IDs (RFC 8489 §5) and consent-check
    /// jitter come from the system's secure generator, or, given `randomSeed`, from a seeded
    /// generator so that a test or simulation replays exactly.
    public init(local: ICECredentials, remote: ICECredentials, remoteCandidates: [PeerAddress], tieBreaker: UInt64,
                now: Instant, randomSeed: UInt64? = nil, embedsDTLS: Bool = false) {
        self.local = local
        self.remote = remote
        self.tieBreaker = tieBreaker
        self.random = ICERandomSource(seed: randomSeed)
        self.remoteKey = Array(remote.password.utf8)
        self.localKey = Array(local.password.utf8)
        self.dtlsInSTUN = embedsDTLS ? DTLSInSTUN() : nil
        self.phase = .finished
        var checks: [Check] = []
        for candidate in remoteCandidates where !checks.contains(where: { $0.destination == candidate }) {
            let transactionID = STUNTransactionID.random(using: &random)
            checks.append(Check(destination: candidate, transactionID: transactionID,
                                transmissions: 1, rto: Self.initialRTO, nextTransmission: now + Self.initialRTO))
            outgoing.append(.request(to: candidate, transactionID, nominating: true))
        }
        if checks.isEmpty {
            events.append(.failed)
        } else {
            phase = .checking(checks)
        }
    }

    /// A Binding request as RFC 8445 §7.2.2 wants it: USERNAME "remote:local", PRIORITY,
    /// ICE-CONTROLLING, USE-CANDIDATE when nominating, SPED's attributes when negotiated,
    /// MESSAGE-INTEGRITY, FINGERPRINT.
    private mutating func encodeRequest(_ transactionID: STUNTransactionID, nominating: Bool) -> [UInt8] {
        var attributes: [STUNAttribute] = [
            .username("\(remote.ufrag):\(local.ufrag)"), .priority(Self.checkPriority), .iceControlling(tieBreaker),
        ]
        if nominating { attributes.append(.useCandidate) }
        attributes += dtlsInSTUN?.attributesToSend() ?? []
        let message = STUNMessage(class: .request, method: .binding, transactionID: transactionID, attributes: attributes)
        return message.encoded(integrityKey: remoteKey, fingerprint: true)
    }

    /// Hands SPED's part of an authenticated message to `DTLSInSTUN`.
    private mutating func readEmbedded(_ message: STUNMessage) {
        if let datagram = dtlsInSTUN?.receive(message) { events.append(.embeddedDTLS(datagram)) }
    }

    /// Handles one STUN message from `source`. Returns true when it was ours: an authenticated
    /// response to one of our checks (RFC 8445 §7.2.5: matching transaction, symmetric
    /// addresses, MESSAGE-INTEGRITY under the remote password) or a peer's check that we answered.
    public mutating func handle(_ message: STUNMessage, from source: PeerAddress, now: Instant) -> Bool {
        handleTimeout(now: now)
        guard message.method == .binding else { return false }
        switch message.messageClass {
        case .request:
            return answer(message, from: source)
        case .successResponse, .errorResponse:
            return handleResponse(message, from: source, now: now)
        case .indication:
            return false
        }
    }

    private mutating func handleResponse(_ message: STUNMessage, from source: PeerAddress, now: Instant) -> Bool {
        switch phase {
        case .checking(var checks):
            guard let index = checks.firstIndex(where: { $0.transactionID == message.transactionID && $0.destination == source }),
                  message.hasValidMessageIntegrity(key: remoteKey) else { return false }
            if message.messageClass == .successResponse {
                selectedAddress = source
                events.append(.connected(source))
                phase = .connected(consentDeadline: now + Self.consentTimeout,
                                   nextConsentCheck: now + jitteredConsentInterval(), outstanding: [])
                readEmbedded(message)
            } else {
                checks.remove(at: index)
                finishChecking(checks)
            }
            return true
        case .connected(let consentDeadline, let nextConsentCheck, var outstanding):
            guard source == selectedAddress, let index = outstanding.firstIndex(of: message.transactionID),
                  message.hasValidMessageIntegrity(key: remoteKey) else { return false }
            outstanding.remove(at: index)
            let refreshed = message.messageClass == .successResponse ? now + Self.consentTimeout : consentDeadline
            phase = .connected(consentDeadline: refreshed, nextConsentCheck: nextConsentCheck, outstanding: outstanding)
            readEmbedded(message)
            return true
        case .finished:
            return false
        }
    }

    /// RFC 8445 §7.3: a full agent answers the peer's authenticated checks.
    private mutating func answer(_ message: STUNMessage, from source: PeerAddress) -> Bool {
        if case .finished = phase { return false }
        guard message.username == "\(local.ufrag):\(remote.ufrag)",
              message.hasValidMessageIntegrity(key: localKey) else { return false }
        outgoing.append(.response(to: source, message.transactionID))
        readEmbedded(message)
        return true
    }

    private mutating func finishChecking(_ checks: [Check]) {
        if checks.isEmpty {
            phase = .finished
            events.append(.failed)
        } else {
            phase = .checking(checks)
        }
    }

    /// Retransmits due checks, gives up on exhausted ones, and sends consent checks or ends
    /// consent when their times come.
    public mutating func handleTimeout(now: Instant) {
        switch phase {
        case .checking(var checks):
            var index = 0
            while index < checks.count {
                guard checks[index].nextTransmission <= now else {
                    index += 1
                    continue
                }
                if checks[index].transmissions >= Self.maximumTransmissions {
                    checks.remove(at: index)
                    continue
                }
                checks[index].transmissions += 1
                checks[index].rto = min(checks[index].rto * 2, Self.maximumRTO)
                checks[index].nextTransmission = now + checks[index].rto
                outgoing.append(.request(to: checks[index].destination, checks[index].transactionID, nominating: true))
                index += 1
            }
            finishChecking(checks)
        case .connected(let consentDeadline, let nextConsentCheck, var outstanding):
            if now >= consentDeadline {
                phase = .finished
                events.append(.consentExpired)
                return
            }
            guard now >= nextConsentCheck, let destination = selectedAddress else { return }
            let transactionID = STUNTransactionID.random(using: &random)
            outgoing.append(.request(to: destination, transactionID, nominating: false))
            // Responses to the last few checks still count; older ones are forgotten.
            outstanding = Array((outstanding + [transactionID]).suffix(8))
            phase = .connected(consentDeadline: consentDeadline, nextConsentCheck: now + jitteredConsentInterval(),
                               outstanding: outstanding)
        case .finished:
            return
        }
    }

    private mutating func jitteredConsentInterval() -> Duration {
        Self.consentInterval * Double.random(in: 0.8...1.2, using: &random)
    }

    public mutating func pollTransmit() -> Transmit? {
        guard !outgoing.isEmpty else { return nil }
        switch outgoing.removeFirst() {
        case .request(let destination, let transactionID, let nominating):
            return Transmit(destination: destination, payload: encodeRequest(transactionID, nominating: nominating))
        case .response(let destination, let transactionID):
            let response = STUNMessage(class: .successResponse, method: .binding, transactionID: transactionID,
                                       attributes: [.xorMappedAddress(destination)] + (dtlsInSTUN?.attributesToSend() ?? []))
            return Transmit(destination: destination, payload: response.encoded(integrityKey: localKey, fingerprint: true))
        }
    }

    public mutating func pollEvent() -> Event? {
        events.isEmpty ? nil : events.removeFirst()
    }

    /// The next retransmission, consent check or consent expiry; nil once failed or expired.
    public func nextDeadline() -> Instant? {
        switch phase {
        case .checking(let checks):
            return checks.map(\.nextTransmission).min()
        case .connected(let consentDeadline, let nextConsentCheck, _):
            return min(consentDeadline, nextConsentCheck)
        case .finished:
            return nil
        }
    }
}

/// The system's secure generator, or a seeded one when the agent was given a seed.
private struct ICERandomSource: RandomNumberGenerator, Sendable {
    private var seeded: SplitMix64?

    init(seed: UInt64?) {
        seeded = seed.map(SplitMix64.init(seed:))
    }

    mutating func next() -> UInt64 {
        guard var generator = seeded else {
            var system = SystemRandomNumberGenerator()
            return system.next()
        }
        defer { seeded = generator }
        return generator.next()
    }
}

/// A small seeded generator (SplitMix64), for repeatable runs.
private struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
