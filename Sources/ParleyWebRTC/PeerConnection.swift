import ParleyWire

/// The transport of one WebRTC peer connection carrying one Opus audio stream, sans-IO:
/// ICE (an ICE-lite responder for the server, a controlling agent for Parley's own client),
/// DTLS-SRTP (RFC 5764), SRTP/SRTCP (RFC 3711), RTP and RTCP reports (RFC 3550 §6.4),
/// data channels over SCTP over DTLS (RFC 8261, RFC 8831), all multiplexed on one 5-tuple
/// (RFC 8843 BUNDLE, RFC 5761 rtcp-mux, RFC 7983 demux).
///
/// The caller feeds datagrams and timeouts, then drains `pollTransmit()` and `pollEvent()`
/// and arms a timer for `nextDeadline()`. Nothing here reads a clock or touches a socket.
public final class PeerConnection {
    /// How this side runs ICE.
    public enum ICEMode: Sendable {
        /// RFC 8445 §2.5 lite responder: the server side of Parley.
        case liteResponder(remoteUfrag: String?)
        /// RFC 8445 §7.2 controlling full agent: Parley's own client role.
        case controlling(remote: ICECredentials, candidates: [PeerAddress], tieBreaker: UInt64)
    }

    public struct Configuration: Sendable {
        public var localICE: ICECredentials
        public var ice: ICEMode
        public var certificate: DTLSCertificate
        public var remoteFingerprint: DTLSFingerprint
        public var dtlsRole: DTLSRole
        /// The payload type the offer gave Opus (RFC 7587 §7).
        public var audioPayloadType: UInt8
        /// The negotiated `telephone-event` payload type (RFC 4733), if any.
        public var telephoneEventPayloadType: UInt8?
        public var localSSRC: UInt32
        public var cname: String
        /// How often RTCP reports go out once SRTP is up.
        public var rtcpInterval: Duration
        /// The SCTP association for data channels; nil when the SDP negotiated none.
        public var dataChannels: SCTPAssociation.Configuration?
        /// SPED was negotiated (the `sped` ICE option in offer and answer): the DTLS handshake
        /// also rides in STUN (`DTLSInSTUN`), and a DTLS client that sends checks starts it
        /// before ICE connects.
        public var embedsDTLSInSTUN: Bool

        public init(
            localICE: ICECredentials, ice: ICEMode, certificate: DTLSCertificate,
            remoteFingerprint: DTLSFingerprint, dtlsRole: DTLSRole, audioPayloadType: UInt8,
            localSSRC: UInt32 = .random(in: 1...UInt32.max), cname: String = "parley",
            rtcpInterval: Duration = .seconds(1),
            dataChannels: SCTPAssociation.Configuration? = nil, telephoneEventPayloadType: UInt8? = nil,
            embedsDTLSInSTUN: Bool = false
        ) {
            self.embedsDTLSInSTUN = embedsDTLSInSTUN
            self.dataChannels = dataChannels
            self.telephoneEventPayloadType = telephoneEventPayloadType
            self.localICE = localICE
            self.ice = ice
            self.certificate = certificate
            self.remoteFingerprint = remoteFingerprint
            self.dtlsRole = dtlsRole
            self.audioPayloadType = audioPayloadType
            self.localSSRC = localSSRC
            self.cname = cname
            self.rtcpInterval = rtcpInterval
        }
    }

    /// One received audio packet, decrypted and parsed.
    public struct ReceivedAudio: Sendable, Equatable {
        public var sequenceNumber: UInt16
        public var rtpTimestamp: UInt32
        public var ssrc: UInt32
        public var payload: [UInt8]
    }

    public enum CloseReason: String, Sendable {
        /// No ICE check arrived in time (RFC 8445 §8.3 applied to a lite agent).
        case iceTimeout = "ice_timeout"
        case iceFailed = "ice_failed"
        /// RFC 7675 §5.1: no consent for 30 s.
        case consentExpired = "consent_expired"
        case dtlsClosed = "dtls_closed"
        case dtlsFailed = "dtls_failed"
        /// RFC 3550 §6.6: the peer's SSRC left.
        case rtcpBye = "rtcp_bye"
        case localClose = "local_close"
    }

    public enum Event: Sendable, Equatable {
        case iceConnected(PeerAddress)
        case dtlsConnected(SRTPProfile)
        case audio(ReceivedAudio)
        /// A DTMF key the caller pressed (RFC 4733), once it ended.
        case telephoneEvent(TelephoneEvent)
        /// A data-channel event: association up, channel opened or closed, a message.
        case dataChannel(SCTPAssociation.Event)
        /// An SCTP packet or data-channel message was dropped; the association goes on.
        case dataChannelDropped(SCTPAssociation.DropReason)
        case closed(CloseReason)
    }

    /// Why a datagram was not accepted; the runtime counts these by name.
    public enum DropReason: String, Sendable, Error {
        case stunMalformed = "stun_malformed"
        case stunRejected = "stun_rejected"
        case unvalidatedSource = "unvalidated_source"
        case srtpNotReady = "srtp_not_ready"
        case srtpAuthentication = "srtp_auth"
        case srtpReplay = "srtp_replay"
        case rtpMalformed = "rtp_malformed"
        case rtcpMalformed = "rtcp_malformed"
        case unexpectedPayloadType = "unexpected_payload_type"
        case unknownPacketKind = "unknown_packet_kind"
        case sessionClosed = "session_closed"
    }

    public enum Verdict: Sendable, Equatable {
        case accepted
        case dropped(DropReason)
    }

    /// Counters a load generator and the metrics read.
    public struct Statistics: Sendable {
        public var rtpPacketsSent: UInt64 = 0
        public var rtpOctetsSent: UInt64 = 0
        /// Loss and jitter the peer reported about our stream (RFC 3550 §6.4.1).
        public var remoteCumulativeLost: Int32 = 0
        public var remoteJitterSamples: UInt32 = 0
        /// Round-trip time from the peer's report blocks (RFC 3550 §6.4.1, LSR/DLSR).
        public var roundTripTime: Duration?
        /// Our view of the incoming stream.
        public var receive: RTPReceiveStatistics?
    }

    public let configuration: Configuration
    public private(set) var statistics = Statistics()
    /// The RTP timestamp of the last telephone event reported.
    private var lastTelephoneEventStart: UInt32?
    public private(set) var isClosed = false
    public private(set) var selectedAddress: PeerAddress?

    private var ice: ICEAgent
    private let dtls: DTLSEndpoint
    private let sctp: SCTPAssociation?
    private var srtp: SRTPSession?
    private var validatedSources: Set<PeerAddress> = []
    private var transmits = FIFO<Transmit>()
    private var events = FIFO<Event>()
    private var nextReport: Instant?
    private let rtpSequenceBase: UInt16
    private let rtpTimestampBase: UInt32
    private var lastMediaTime: UInt32?
    private var lastSendInstant: Instant?
    private var lastSenderReportReceived: (middle: UInt32, at: Instant)?
    private var sentForRetransmission = RetransmissionBuffer(capacity: 128)
    /// Our last DTLS handshake flight, which a SPED client sends again on its own once ICE
    /// connects if the peer did not take it from the checks.
    private var lastHandshakeFlight: [[UInt8]] = []
    /// True once SRTP or data-channel records came from the peer.
    private var peerHasKeys = false

    /// A SPED client that sends checks starts DTLS at once, so its first check carries the
    /// ClientHello; any other DTLS client starts when ICE selects a pair.
    private var startsDTLSBeforeICE: Bool {
        guard configuration.embedsDTLSInSTUN, configuration.dtlsRole == .client,
              case .controlling = configuration.ice else { return false }
        return true
    }

    /// Sets up the connection, drawing its random choices from the system's secure generator.
    public convenience init(configuration: Configuration, now: Instant) throws(DTLSError) {
        var generator = SystemRandomNumberGenerator()
        try self.init(configuration: configuration, now: now, using: &generator, seedingICE: false)
    }

    /// Sets up the connection, drawing every random choice from `generator`: the RTP sequence
    /// number and timestamp bases (RFC 3550 §5.1), the SCTP verification tag and initial TSN
    /// (RFC 4960 §5.1), and the seed of the controlling ICE agent's transaction IDs and consent
    /// jitter. A seeded generator makes a session replay exactly (tests, simulations); the SSRC,
    /// ICE credentials and tie-breaker come from `configuration`.
    public convenience init(configuration: Configuration, now: Instant,
                            using generator: inout some RandomNumberGenerator) throws(DTLSError) {
        try self.init(configuration: configuration, now: now, using: &generator, seedingICE: true)
    }

    /// `seedingICE` false leaves the ICE agent on the system's secure generator.
    private init(configuration: Configuration, now: Instant, using generator: inout some RandomNumberGenerator,
                 seedingICE: Bool) throws(DTLSError) {
        self.configuration = configuration
        rtpSequenceBase = .random(in: 0...UInt16.max, using: &generator)
        rtpTimestampBase = .random(in: 0...UInt32.max, using: &generator)
        let embedsDTLS = configuration.embedsDTLSInSTUN
        switch configuration.ice {
        case .liteResponder(let remoteUfrag):
            ice = .lite(ICELiteAgent(local: configuration.localICE, remoteUfrag: remoteUfrag, now: now, embedsDTLS: embedsDTLS))
        case .controlling(let remote, let candidates, let tieBreaker):
            ice = .controlling(ICEControllingAgent(
                local: configuration.localICE, remote: remote, remoteCandidates: candidates,
                tieBreaker: tieBreaker, now: now, randomSeed: seedingICE ? generator.next() : nil, embedsDTLS: embedsDTLS))
            validatedSources = Set(candidates)
        }
        dtls = try DTLSEndpoint(
            role: configuration.dtlsRole, certificate: configuration.certificate,
            remoteFingerprint: configuration.remoteFingerprint, now: now)
        sctp = configuration.dataChannels.map { SCTPAssociation(configuration: $0, now: now, using: &generator) }
        // SPED: a controlling client's ClientHello is ready before its first check, which
        // carries it. (A lite DTLS client starts on the first check, whose response carries it.)
        if startsDTLSBeforeICE { dtls.start(now: now) }
        drainICE(now: now)
    }

    // MARK: Input

    /// Handles one datagram from `source`, demultiplexed by its first byte (RFC 7983 §7).
    @discardableResult
    public func handle(_ datagram: [UInt8], from source: PeerAddress, now: Instant) -> Verdict {
        guard !isClosed else { return .dropped(.sessionClosed) }
        switch PacketKind(datagram) {
        case .stun:
            guard let message = try? STUNMessage(parsing: datagram) else { return .dropped(.stunMalformed) }
            return handle(message, from: source, now: now)
        case .dtls:
            guard validatedSources.contains(source) else { return .dropped(.unvalidatedSource) }
            dtls.handle(datagram, now: now)
            drainDTLS(now: now)
            return .accepted
        case .rtp:
            return handleRTP(datagram, from: source, now: now)
        case .rtcp:
            return handleRTCP(datagram, from: source, now: now)
        case .relayed, .unknown:
            return .dropped(.unknownPacketKind)
        }
    }

    /// Handles a STUN message the runtime already parsed (to route it by USERNAME).
    @discardableResult
    public func handle(_ message: STUNMessage, from source: PeerAddress, now: Instant) -> Verdict {
        guard !isClosed else { return .dropped(.sessionClosed) }
        let accepted = ice.handle(message, from: source, now: now)
        if accepted, validatedSources.count < 16 { validatedSources.insert(source) }
        drainICE(now: now)
        return accepted ? .accepted : .dropped(.stunRejected)
    }

    public func handleTimeout(now: Instant) {
        guard !isClosed else { return }
        ice.handleTimeout(now: now)
        drainICE(now: now)
        guard !isClosed else { return }
        dtls.handleTimeout(now: now)
        drainDTLS(now: now)
        if let sctp, let deadline = sctp.nextDeadline(), deadline <= now {
            sctp.handleTimeout(now: now)
            drainSCTP()
        }
        if let due = nextReport, due <= now {
            sendReport(now: now)
        }
    }

    // MARK: Output

    public func pollTransmit() -> Transmit? {
        transmits.popFirst()
    }

    public func pollEvent() -> Event? {
        events.popFirst()
    }

    public func nextDeadline() -> Instant? {
        guard !isClosed else { return nil }
        return ice.nextDeadline().earliest(dtls.nextDeadline()).earliest(nextReport).earliest(sctp?.nextDeadline())
    }

    /// True once SRTP keys exist, so audio can be sent.
    public var isMediaReady: Bool { srtp != nil && !isClosed }

    /// Where SPED stands (`DTLSInSTUN.State`); nil when it was not negotiated.
    public var dtlsInSTUNState: DTLSInSTUN.State? { ice.dtlsInSTUNState }

    /// Sends one Opus frame. `mediaTime` counts 48 kHz ticks from the start of our stream
    /// (RFC 7587 §4.1: the RTP clock is always 48 kHz); `marker` flags the first packet
    /// after silence (RFC 3551 §4.1).
    public func sendAudio(_ opusPayload: [UInt8], mediaTime: UInt32, marker: Bool, now: Instant) {
        guard let srtp, let destination = selectedAddress, !isClosed else { return }
        let sequence = rtpSequenceBase &+ UInt16(truncatingIfNeeded: statistics.rtpPacketsSent)
        let packet = RTPPacket(
            marker: marker, payloadType: configuration.audioPayloadType, sequenceNumber: sequence,
            timestamp: rtpTimestampBase &+ mediaTime, ssrc: configuration.localSSRC, payload: opusPayload)
        guard let protected = try? srtp.protectRTP(packet.encoded()) else { return }
        statistics.rtpPacketsSent += 1
        statistics.rtpOctetsSent += UInt64(opusPayload.count)
        lastMediaTime = mediaTime
        lastSendInstant = now
        sentForRetransmission.store(protected, sequence: sequence)
        transmits.append(Transmit(destination: destination, payload: protected))
    }

    /// Our SCTP INIT chunk for an answer's `a=sctp-init` (SNAP, draft-hancke-tsvwg-snap-00);
    /// nil without data channels.
    public var localSCTPInitiation: SCTPInitChunk? { sctp?.initiation }

    /// Opens a data channel from this side (RFC 8832 §5); its id comes back in
    /// `.dataChannel(.channelOpened)` once the peer acknowledges.
    public func openDataChannel(label: String, now: Instant) throws(SCTPAssociation.Error) -> UInt16 {
        guard let sctp, !isClosed else { throw .notEstablished }
        defer { drainSCTP() }
        return try sctp.openChannel(label: label, now: now)
    }

    /// Sends a message on an open data channel (RFC 8831 §6.6).
    public func sendDataChannelMessage(_ message: DataChannel.Message, on streamID: UInt16, now: Instant) throws(SCTPAssociation.Error) {
        guard let sctp, !isClosed else { throw .notEstablished }
        defer { drainSCTP() }
        try sctp.send(message, on: streamID, now: now)
    }

    /// Ends the connection: an RTCP BYE (RFC 3550 §6.6) and a DTLS close_notify go out.
    public func close(now: Instant) {
        guard !isClosed else { return }
        if srtp != nil {
            queueRTCP([.bye(RTCPBye(sources: [configuration.localSSRC], reason: nil))])
        }
        if let sctp, sctp.isEstablished {
            sctp.abort()
            drainSCTP()
        }
        dtls.close()
        send(takeDTLSFlight())
        finish(.localClose)
    }

    // MARK: Internals

    private func finish(_ reason: CloseReason) {
        guard !isClosed else { return }
        isClosed = true
        nextReport = nil
        events.append(.closed(reason))
    }

    /// ICE events first (an embedded DTLS datagram goes to DTLS), then DTLS's answering flight
    /// is handed to the agent, which embeds it in the STUN messages it encodes next (SPED),
    /// then those messages go out, and the flight's own datagrams after them.
    private func drainICE(now: Instant) {
        while let event = ice.pollEvent() { handleICEEvent(event, now: now) }
        let flight = takeDTLSFlight()
        while let transmit = ice.pollTransmit() { transmits.append(transmit) }
        send(flight)
        drainDTLS(now: now)
    }

    private func handleICEEvent(_ event: ICEEvent, now: Instant) {
        switch event {
        case .selected(let address):
            let first = selectedAddress == nil
            selectedAddress = address
            validatedSources.insert(address)
            guard first else { return }
            events.append(.iceConnected(address))
            guard configuration.dtlsRole == .client else { return }
            if startsDTLSBeforeICE {
                // SPED "For pairs in SUCCEEDED state": the pair works, so our flight may go on
                // its own; it must when the peer did not read it from the checks.
                if ice.dtlsInSTUNState == .tentative || ice.dtlsInSTUNState == .off { send(lastHandshakeFlight) }
            } else {
                dtls.start(now: now)
            }
        case .embeddedDTLS(let datagram):
            dtls.handle(datagram, now: now)
        case .failed:
            finish(.iceFailed)
        case .consentExpired:
            finish(selectedAddress == nil ? .iceTimeout : .consentExpired)
        }
    }

    private func drainDTLS(now: Instant) {
        send(takeDTLSFlight())
        while let event = dtls.pollEvent() {
            switch event {
            case .connected(let keying):
                ice.updateDTLSInSTUN { $0?.handshakeCompleted(isDTLSClient: configuration.dtlsRole == .client) }
                do {
                    srtp = try SRTPSession(keying: keying)
                    nextReport = now + configuration.rtcpInterval
                    events.append(.dtlsConnected(keying.profile))
                    if let sctp {
                        sctp.connect(now: now)
                        drainSCTP()
                    }
                } catch {
                    finish(.dtlsFailed)
                }
            case .applicationData(let data):
                notePeerHasKeys()
                guard let sctp else { continue }
                if case .dropped(let reason) = sctp.handle(data, now: now) {
                    events.append(.dataChannelDropped(reason))
                }
                drainSCTP()
            case .closed:
                finish(.dtlsClosed)
            case .failed:
                finish(.dtlsFailed)
            }
        }
    }

    /// Moves SCTP packets into DTLS records (RFC 8261 §5) and SCTP events out.
    private func drainSCTP() {
        guard let sctp else { return }
        while let packet = sctp.pollTransmit() {
            try? dtls.send(packet)
        }
        send(takeDTLSFlight())
        while let event = sctp.pollEvent() {
            events.append(.dataChannel(event))
        }
    }

    /// Everything DTLS wrote since the last call. A handshake flight (handshake or
    /// change_cipher_spec records, RFC 6347 §4.1) also goes to the ICE agent to embed (SPED),
    /// new flights and retransmitted ones alike.
    private func takeDTLSFlight() -> [[UInt8]] {
        var flight: [[UInt8]] = []
        while let datagram = dtls.pollTransmit() { flight.append(datagram) }
        if let first = flight.first?.first, first == 20 || first == 22 {
            lastHandshakeFlight = flight
            ice.updateDTLSInSTUN { $0?.embed(flight: flight) }
        }
        return flight
    }

    /// Sends DTLS datagrams on the selected pair; before ICE selected one they only travel
    /// embedded in STUN (SPED), or not at all.
    private func send(_ datagrams: [[UInt8]]) {
        guard let destination = selectedAddress else { return }
        for datagram in datagrams { transmits.append(Transmit(destination: destination, payload: datagram)) }
    }

    /// SPED ends once the peer shows it holds the keys.
    private func notePeerHasKeys() {
        guard !peerHasKeys else { return }
        peerHasKeys = true
        ice.updateDTLSInSTUN { $0?.peerConnected() }
    }

    /// What SRTP and SRTCP input share (RFC 3711 §3.3, §3.4): keys must exist, the source
    /// must have passed ICE, and the packet must authenticate and not be a replay.
    private func unprotect(
        _ datagram: [UInt8], from source: PeerAddress,
        _ operation: (SRTPSession, [UInt8]) throws(SRTPError) -> [UInt8]
    ) throws(DropReason) -> [UInt8] {
        guard let srtp else { throw .srtpNotReady }
        guard validatedSources.contains(source) else { throw .unvalidatedSource }
        do {
            let clear = try operation(srtp, datagram)
            notePeerHasKeys()
            return clear
        } catch .replay {
            throw .srtpReplay
        } catch {
            throw .srtpAuthentication
        }
    }

    private func handleRTP(_ datagram: [UInt8], from source: PeerAddress, now: Instant) -> Verdict {
        let clear: [UInt8]
        do {
            clear = try unprotect(datagram, from: source) { srtp, packet throws(SRTPError) in try srtp.unprotectRTP(packet) }
        } catch {
            return .dropped(error)
        }
        guard let packet = try? RTPPacket(parsing: clear) else { return .dropped(.rtpMalformed) }
        let isTelephoneEvent = packet.payloadType == configuration.telephoneEventPayloadType
        guard packet.payloadType == configuration.audioPayloadType || isTelephoneEvent else { return .dropped(.unexpectedPayloadType) }
        if statistics.receive?.ssrc != packet.ssrc {
            statistics.receive = RTPReceiveStatistics(ssrc: packet.ssrc, firstSequence: packet.sequenceNumber)
        }
        // Telephone events share the audio's sequence numbers (RFC 4733 §2.1).
        statistics.receive?.record(sequenceNumber: packet.sequenceNumber, rtpTimestamp: packet.timestamp, arrival: now)
        if isTelephoneEvent {
            guard let event = TelephoneEvent(payload: packet.payload) else { return .dropped(.rtpMalformed) }
            // An event is reported once, at its first end packet (sent three times, §2.5.1.4);
            // its RTP timestamp, the event's start, tells repeats apart.
            if event.isEnd, lastTelephoneEventStart != packet.timestamp {
                lastTelephoneEventStart = packet.timestamp
                events.append(.telephoneEvent(event))
            }
            return .accepted
        }
        events.append(.audio(ReceivedAudio(
            sequenceNumber: packet.sequenceNumber, rtpTimestamp: packet.timestamp,
            ssrc: packet.ssrc, payload: packet.payload)))
        return .accepted
    }

    private func handleRTCP(_ datagram: [UInt8], from source: PeerAddress, now: Instant) -> Verdict {
        let clear: [UInt8]
        do {
            clear = try unprotect(datagram, from: source) { srtp, packet throws(SRTPError) in try srtp.unprotectRTCP(packet) }
        } catch {
            return .dropped(error)
        }
        guard let packets = try? RTCPCompoundPacket.parse(clear) else { return .dropped(.rtcpMalformed) }
        for packet in packets {
            switch packet {
            case .senderReport(let report):
                lastSenderReportReceived = (NTPTime(value: report.ntpTimestamp).middle32, now)
                absorb(report.reportBlocks, now: now)
            case .receiverReport(let report):
                absorb(report.reportBlocks, now: now)
            case .bye(let bye):
                if let remote = statistics.receive?.ssrc, bye.sources.contains(remote) {
                    finish(.rtcpBye)
                }
            case .genericNACK(let nack):
                for sequence in nack.lostSequenceNumbers {
                    if let packet = sentForRetransmission.packet(sequence: sequence), let destination = selectedAddress {
                        transmits.append(Transmit(destination: destination, payload: packet))
                    }
                }
            case .sourceDescription, .other:
                break
            }
        }
        return .accepted
    }

    /// RFC 3550 §6.4.1: RTT = arrival − LSR − DLSR, in 1/65536 s.
    private func absorb(_ blocks: [RTCPReportBlock], now: Instant) {
        for block in blocks where block.ssrc == configuration.localSSRC {
            statistics.remoteCumulativeLost = block.cumulativeLost
            statistics.remoteJitterSamples = block.jitter
            if block.lastSenderReport != 0 {
                let units = NTPTime(now).middle32 &- block.lastSenderReport &- block.delaySinceLastSenderReport
                if units < 0x8000_0000 {
                    statistics.roundTripTime = .nanoseconds(Int64(units) * 1_000_000_000 / 65_536)
                }
            }
        }
    }

    private func sendReport(now: Instant) {
        nextReport = now + configuration.rtcpInterval
        var blocks: [RTCPReportBlock] = []
        if var receive = statistics.receive {
            var lsr: UInt32 = 0
            var dlsr: UInt32 = 0
            if let last = lastSenderReportReceived {
                lsr = last.middle
                dlsr = UInt32(clamping: (now - last.at).nanosecondsRounded * 65_536 / 1_000_000_000)
            }
            blocks.append(receive.makeReportBlock(lastSenderReport: lsr, delaySinceLastSenderReport: dlsr))
            statistics.receive = receive
        }
        let report: RTCPPacket
        if let lastMediaTime, let lastSendInstant {
            let elapsedTicks = (now - lastSendInstant).nanosecondsRounded * 48_000 / 1_000_000_000
            report = .senderReport(RTCPSenderReport(
                ssrc: configuration.localSSRC,
                ntpTimestamp: NTPTime(now).value,
                rtpTimestamp: rtpTimestampBase &+ lastMediaTime &+ UInt32(truncatingIfNeeded: elapsedTicks),
                packetCount: UInt32(truncatingIfNeeded: statistics.rtpPacketsSent),
                octetCount: UInt32(truncatingIfNeeded: statistics.rtpOctetsSent),
                reportBlocks: blocks))
        } else {
            report = .receiverReport(RTCPReceiverReport(ssrc: configuration.localSSRC, reportBlocks: blocks))
        }
        queueRTCP([report, .sourceDescription(RTCPSourceDescription(ssrc: configuration.localSSRC, cname: configuration.cname))])
    }

    private func queueRTCP(_ packets: [RTCPPacket]) {
        guard let srtp, let destination = selectedAddress,
              let protected = try? srtp.protectRTCP(RTCPCompoundPacket.encode(packets)) else { return }
        transmits.append(Transmit(destination: destination, payload: protected))
    }
}

/// Either ICE agent behind one interface, so the connection drives them alike.
private enum ICEAgent {
    case lite(ICELiteAgent)
    case controlling(ICEControllingAgent)

    /// True for an authenticated check we answered (lite) or a response to our own check
    /// (controlling).
    mutating func handle(_ message: STUNMessage, from source: PeerAddress, now: Instant) -> Bool {
        switch self {
        case .lite(var agent):
            defer { self = .lite(agent) }
            return agent.handle(message, from: source, now: now) == .answered
        case .controlling(var agent):
            defer { self = .controlling(agent) }
            return agent.handle(message, from: source, now: now)
        }
    }

    mutating func handleTimeout(now: Instant) {
        switch self {
        case .lite(var agent):
            agent.handleTimeout(now: now)
            self = .lite(agent)
        case .controlling(var agent):
            agent.handleTimeout(now: now)
            self = .controlling(agent)
        }
    }

    mutating func pollTransmit() -> Transmit? {
        switch self {
        case .lite(var agent):
            defer { self = .lite(agent) }
            return agent.pollTransmit()
        case .controlling(var agent):
            defer { self = .controlling(agent) }
            return agent.pollTransmit()
        }
    }

    mutating func pollEvent() -> ICEEvent? {
        switch self {
        case .lite(var agent):
            defer { self = .lite(agent) }
            return agent.pollEvent().map(ICEEvent.init)
        case .controlling(var agent):
            defer { self = .controlling(agent) }
            return agent.pollEvent().map(ICEEvent.init)
        }
    }

    func nextDeadline() -> Instant? {
        switch self {
        case .lite(let agent): return agent.nextDeadline()
        case .controlling(let agent): return agent.nextDeadline()
        }
    }

    var dtlsInSTUNState: DTLSInSTUN.State? {
        switch self {
        case .lite(let agent): return agent.dtlsInSTUN?.state
        case .controlling(let agent): return agent.dtlsInSTUN?.state
        }
    }

    /// Changes the agent's SPED state (`DTLSInSTUN`), when SPED was negotiated.
    mutating func updateDTLSInSTUN(_ change: (inout DTLSInSTUN?) -> Void) {
        switch self {
        case .lite(var agent):
            change(&agent.dtlsInSTUN)
            self = .lite(agent)
        case .controlling(var agent):
            change(&agent.dtlsInSTUN)
            self = .controlling(agent)
        }
    }
}

/// ICE events of either agent, in one vocabulary.
private enum ICEEvent {
    case selected(PeerAddress)
    case embeddedDTLS([UInt8])
    case failed
    case consentExpired

    init(_ event: ICELiteAgent.Event) {
        switch event {
        case .selected(let address): self = .selected(address)
        case .embeddedDTLS(let datagram): self = .embeddedDTLS(datagram)
        case .consentExpired: self = .consentExpired
        }
    }

    init(_ event: ICEControllingAgent.Event) {
        switch event {
        case .connected(let address): self = .selected(address)
        case .embeddedDTLS(let datagram): self = .embeddedDTLS(datagram)
        case .failed: self = .failed
        case .consentExpired: self = .consentExpired
        }
    }
}

/// A 64-bit NTP timestamp (RFC 5905 §6) made from a monotonic instant. RTCP uses it only to
/// measure round trips (RFC 3550 §6.4.1), so the peer needs consistency, not wall-clock truth.
struct NTPTime {
    var value: UInt64

    /// A timestamp as carried in a sender report.
    init(value: UInt64) {
        self.value = value
    }

    init(_ instant: Instant) {
        let seconds = UInt64(max(0, instant.nanoseconds)) / 1_000_000_000
        let nanos = UInt64(max(0, instant.nanoseconds)) % 1_000_000_000
        value = seconds << 32 | (nanos << 32) / 1_000_000_000
    }

    /// The middle 32 bits, as carried in LSR (RFC 3550 §6.4.1).
    var middle32: UInt32 { UInt32(truncatingIfNeeded: value >> 16) }
}

/// The last protected RTP packets we sent, by sequence number, for NACK (RFC 4585 §6.2.1).
struct RetransmissionBuffer {
    private var slots: [(sequence: UInt16, packet: [UInt8])?]

    init(capacity: Int) {
        slots = Array(repeating: nil, count: capacity)
    }

    mutating func store(_ packet: [UInt8], sequence: UInt16) {
        slots[Int(sequence) % slots.count] = (sequence, packet)
    }

    func packet(sequence: UInt16) -> [UInt8]? {
        guard let slot = slots[Int(sequence) % slots.count], slot.sequence == sequence else { return nil }
        return slot.packet
    }
}
