import ParleyWire

/// An SCTP association over DTLS (RFC 8261) carrying WebRTC data channels (RFC 8831, RFC 8832),
/// sans-IO: each DTLS application-data record goes in through `handle(_:now:)`, SCTP packets
/// for `DTLSEndpoint.send` come out of `pollTransmit()`, and time comes in as `Instant`.
///
/// It speaks the subset of RFC 9260 a browser needs: the four-way handshake with a state
/// cookie sealed by HMAC-SHA256 (§5.1), initiated by either side or both at once (§5.2.1),
/// or skipped when both INIT chunks went through the SDP (SNAP, draft-hancke-tsvwg-snap-00);
/// DATA and SACK with fragmentation, reassembly, ordered and unordered delivery (§6); the
/// retransmission timer (§6.3); slow start, congestion avoidance and fast retransmit (§7.2);
/// HEARTBEAT answers (§8.3); ABORT and the SHUTDOWN sequence (§9). Partial reliability uses
/// FORWARD-TSN (RFC 3758) and a channel closes by resetting its streams with RE-CONFIG
/// (RFC 6525, RFC 8831 §6.7).
///
/// Hostile input never ends the association: a packet with a bad checksum or verification tag,
/// and a malformed chunk or DCEP message, is dropped with a `DropReason` and counted in
/// `dropCounts`. Reassembly memory is bounded by `receiveBufferSize`, streams by `maxStreams`.
///
/// Not thread-safe: one association lives on one event loop, like the session that owns it.
public final class SCTPAssociation {
    public struct Configuration: Sendable {
        /// SCTP ports (RFC 8841 `a=sctp-port`); browsers use 5000.
        public var localPort: UInt16
        public var remotePort: UInt16
        /// Our DTLS role: the DTLS client opens channels on even stream IDs, the server on odd
        /// ones (RFC 8832 §6).
        public var isDTLSClient: Bool
        /// The largest user message accepted in either direction (RFC 8841 `a=max-message-size`).
        public var maxMessageSize: Int
        /// Streams offered in each direction; a stream ID at or above it is refused.
        public var maxStreams: UInt16
        /// Bytes of received, undelivered data we hold; advertised as a_rwnd (§6.2).
        public var receiveBufferSize: Int
        /// Bytes of unacknowledged and unsent user data `send` accepts before throwing.
        public var sendBufferSize: Int
        /// The largest SCTP packet we send. 1188 bytes fits a 1280-byte IPv6 path after
        /// DTLS, UDP and IP headers.
        public var maxPacketSize: Int
        /// RTO.Initial, RTO.Min and RTO.Max (§16). The minimum is below RFC 9260's 1 s, as
        /// WebRTC stacks do, for interactive data.
        public var initialRTO: Duration
        public var minRTO: Duration
        public var maxRTO: Duration
        /// Max.Init.Retransmits and Association.Max.Retrans (§16).
        public var maxInitRetransmits: Int
        public var maxAssociationRetransmits: Int
        /// Valid.Cookie.Life (§16).
        public var cookieLifetime: Duration
        /// SNAP (draft-hancke-tsvwg-snap-00): the peer's INIT chunk from its SDP `a=sctp-init`.
        /// With it `connect(now:)` makes the association ESTABLISHED at once and sends nothing,
        /// as the draft's SCTP considerations allow; nil runs the handshake (§5.1).
        public var peerInitiation: SCTPInitChunk?
        /// Our INIT chunk as already written into SDP `a=sctp-init` before the association
        /// existed (an offerer's, from `makeInitiation(using:)`): the association keeps its
        /// Initiate Tag and Initial TSN. nil draws both when the association is made.
        public var localInitiation: SCTPInitChunk?

        public init(isDTLSClient: Bool, localPort: UInt16 = 5000, remotePort: UInt16 = 5000,
                    maxMessageSize: Int = 262_144, peerInitiation: SCTPInitChunk? = nil) {
            self.isDTLSClient = isDTLSClient
            self.localPort = localPort
            self.remotePort = remotePort
            self.maxMessageSize = maxMessageSize
            self.peerInitiation = peerInitiation
            maxStreams = 1024
            receiveBufferSize = 1_048_576
            sendBufferSize = 4_194_304
            maxPacketSize = 1188
            initialRTO = .seconds(1)
            minRTO = .milliseconds(200)
            maxRTO = .seconds(10)
            maxInitRetransmits = 8
            maxAssociationRetransmits = 10
            cookieLifetime = .seconds(60)
        }

        /// Our INIT chunk (§3.3.2) with a fresh random Initiate Tag and Initial TSN (§5.1), for
        /// an offer's `a=sctp-init` written before the association exists.
        public func makeInitiation(using generator: inout some RandomNumberGenerator) -> SCTPInitChunk {
            initiation(tag: .random(in: 1...UInt32.max, using: &generator),
                       initialTSN: .random(in: 0...UInt32.max, using: &generator))
        }

        /// The INIT this configuration sends: our receive window, stream counts, and the
        /// extensions we speak, FORWARD-TSN (RFC 3758 §3.1) and RE-CONFIG (RFC 6525 §4.1).
        func initiation(tag: UInt32, initialTSN: UInt32) -> SCTPInitChunk {
            SCTPInitChunk(
                initiateTag: tag, advertisedReceiverWindowCredit: UInt32(receiveBufferSize),
                outboundStreams: maxStreams, inboundStreams: maxStreams, initialTSN: initialTSN,
                parameters: [
                    .forwardTSNSupported,
                    .supportedExtensions([SCTPChunk.ChunkType.forwardTSN, SCTPChunk.ChunkType.reconfig]),
                ])
        }
    }

    public enum Event: Sendable, Hashable {
        /// The handshake completed (§5.1): channels can be opened.
        case connected
        /// A channel is open: the peer's DATA_CHANNEL_OPEN arrived, or the peer acknowledged
        /// ours (RFC 8832 §6).
        case channelOpened(DataChannel.Info)
        case message(streamID: UInt16, DataChannel.Message)
        /// Both directions of the channel's stream are reset (RFC 8831 §6.7).
        case channelClosed(streamID: UInt16)
        /// The association ended; nothing more happens after this event.
        case closed(CloseReason)
    }

    public enum CloseReason: Sendable, Hashable {
        /// The SHUTDOWN sequence completed (§9.2).
        case shutdown
        /// The peer sent ABORT (§9.1), with its first error cause code if any.
        case abortedByPeer(cause: UInt16?)
        /// `abort()` was called.
        case abortedLocally
        /// The peer stopped answering: INIT, COOKIE-ECHO, data or SHUTDOWN went unacknowledged
        /// too many times (§6.3.3, §8.2).
        case timedOut
    }

    /// Why input was dropped; the runtime counts these by name.
    public enum DropReason: String, Sendable, CaseIterable {
        case malformedPacket = "sctp_malformed_packet"
        case badChecksum = "sctp_bad_checksum"
        case wrongPorts = "sctp_wrong_ports"
        case wrongVerificationTag = "sctp_wrong_verification_tag"
        case malformedChunk = "sctp_malformed_chunk"
        case unexpectedChunk = "sctp_unexpected_chunk"
        case unrecognizedChunk = "sctp_unrecognized_chunk"
        case invalidCookie = "sctp_invalid_cookie"
        case staleCookie = "sctp_stale_cookie"
        case invalidStream = "sctp_invalid_stream"
        case receiveWindowFull = "sctp_receive_window_full"
        case invalidAcknowledgement = "sctp_invalid_ack"
        case oversizedMessage = "sctp_oversized_message"
        case malformedDCEP = "dcep_malformed"
        case unexpectedDCEP = "dcep_unexpected"
        case unknownPayloadProtocol = "sctp_unknown_ppid"
        case malformedText = "datachannel_text_not_utf8"
        case associationClosed = "sctp_association_closed"
    }

    /// What became of one packet: accepted whole, or dropped (in part) for the first reason met.
    public enum Verdict: Sendable, Equatable {
        case accepted
        case dropped(DropReason)
    }

    public enum Error: Swift.Error, Sendable, Equatable {
        /// Channels open and messages flow only while the association is established.
        case notEstablished
        /// Every stream ID of our parity below the negotiated stream count is in use.
        case noStreamAvailable
        case unknownChannel(UInt16)
        /// The channel is closing or closed.
        case channelClosing(UInt16)
        case messageTooLarge(size: Int, limit: Int)
        /// `sendBufferSize` bytes are already waiting for acknowledgement.
        case sendBufferFull
        /// A label or protocol longer than 65535 bytes (RFC 8832 §5.1).
        case labelTooLong
    }

    enum State: Equatable {
        /// No association yet: INITs are answered statelessly (§5.1), `connect` starts one.
        case closed
        case cookieWait
        case cookieEchoed
        case established
        case shutdownPending
        case shutdownSent
        case shutdownReceived
        case shutdownAckSent
        /// Ended; `.closed` was reported and all input is ignored.
        case terminated
    }

    /// What the peer told us in its INIT or INIT-ACK (or what our cookie remembers of it).
    struct PeerParameters {
        var tag: UInt32
        var initialTSN: UInt32
        var receiverWindow: UInt32
        var outboundStreams: UInt16
        var inboundStreams: UInt16
        var supportsForwardTSN: Bool
        var supportsReconfig: Bool
    }

    /// A retransmission timer: its deadline and how often it has fired in a row.
    struct Timer {
        var deadline: Instant?
        var retransmissions = 0
    }

    let configuration: Configuration
    let localTag: UInt32
    let localInitialTSN: UInt32
    let cookieKey = SCTPStateCookie.Key()
    var state = State.closed
    var peerTag: UInt32 = 0
    var peerSupportsForwardTSN = false
    var peerSupportsReconfig = false
    var outboundStreamCount: UInt16 = 0
    var inboundStreamCount: UInt16 = 0

    // Handshake (§5.1) and shutdown (§9.2) timers, with the chunk each retransmits.
    var handshakeTimer = Timer()
    var handshakeChunk: SCTPChunk?
    var pendingPeer: PeerParameters?
    var shutdownTimer = Timer()

    // RTO (§6.3.1).
    var rto: Duration
    var smoothedRTT: Duration?
    var rttVariation: Duration = .zero

    var sender: Sender
    var receiver: Receiver
    var streamReset: StreamReset
    var channels: [UInt16: ChannelState] = [:]

    var controlChunks: [SCTPChunk] = []
    var transmitQueue = FIFO<[UInt8]>()
    var events = FIFO<Event>()
    /// Dropped input by reason since the association was made.
    public private(set) var dropCounts: [DropReason: Int] = [:]

    /// Sets up an association that answers INITs at once and starts one on `connect(now:)`.
    public convenience init(configuration: Configuration, now: Instant) {
        var generator = SystemRandomNumberGenerator()
        self.init(configuration: configuration, now: now, using: &generator)
    }

    /// As above, with the verification tag and initial TSN (§5.1) drawn from `generator`,
    /// so tests can replay an association exactly, or, with `configuration.localInitiation`,
    /// the ones that INIT announced.
    public init(configuration: Configuration, now: Instant, using generator: inout some RandomNumberGenerator) {
        self.configuration = configuration
        let initiation = configuration.localInitiation ?? configuration.makeInitiation(using: &generator)
        localTag = initiation.initiateTag
        localInitialTSN = initiation.initialTSN
        rto = configuration.initialRTO
        sender = Sender(initialTSN: localInitialTSN, configuration: configuration)
        receiver = Receiver(configuration: configuration)
        streamReset = StreamReset(localInitialTSN: localInitialTSN)
    }

    /// True once the handshake completed, until the association ends.
    public var isEstablished: Bool {
        switch state {
        case .established, .shutdownPending, .shutdownSent, .shutdownReceived, .shutdownAckSent: true
        default: false
        }
    }

    /// Our INIT chunk (§3.3.2): what `connect(now:)` sends, and what SNAP's SDP `a=sctp-init`
    /// carries (draft-hancke-tsvwg-snap-00).
    public var initiation: SCTPInitChunk {
        configuration.initiation(tag: localTag, initialTSN: localInitialTSN)
    }

    /// Starts the association once DTLS is up (RFC 8261 §5): sends INIT (§5.1), or, with the
    /// peer's INIT from SDP (SNAP), is ESTABLISHED at once without a packet. Either side, or
    /// both, may call it; it does nothing once an association exists or is being set up.
    public func connect(now: Instant) {
        guard state == .closed else { return }
        if let peer = configuration.peerInitiation { return establish(with: PeerParameters(peer)) }
        let chunk = SCTPChunk.initiation(initiation)
        state = .cookieWait
        handshakeChunk = chunk
        handshakeTimer = Timer(deadline: now + rto)
        send(packet: [chunk], verificationTag: 0)
    }

    /// Processes one SCTP packet: one DTLS application-data record (RFC 8261 §3).
    @discardableResult
    public func handle(_ packet: [UInt8], now: Instant) -> Verdict {
        var verdict = Verdict.accepted
        process(packet, now: now, verdict: &verdict)
        if isEstablished { flush(now: now) }
        return verdict
    }

    /// Fires the timers whose deadline has passed.
    public func handleTimeout(now: Instant) {
        if let deadline = handshakeTimer.deadline, deadline <= now { handshakeTimerFired(now: now) }
        if let deadline = shutdownTimer.deadline, deadline <= now { shutdownTimerFired(now: now) }
        if let deadline = sender.retransmissionDeadline, deadline <= now { retransmissionTimerFired(now: now) }
        if let deadline = streamReset.requestDeadline, deadline <= now {
            streamReset.requestDeadline = nil
            streamReset.requestNeedsSending = true
        }
        if let deadline = receiver.sackDeadline, deadline <= now { receiver.sackDue = true }
        if isEstablished { flush(now: now) }
    }

    /// The next SCTP packet to give to `DTLSEndpoint.send`.
    public func pollTransmit() -> [UInt8]? {
        transmitQueue.popFirst()
    }

    public func pollEvent() -> Event? {
        events.popFirst()
    }

    /// The earliest timer: handshake, shutdown, retransmission, delayed SACK or stream reset.
    public func nextDeadline() -> Instant? {
        guard state != .terminated else { return nil }
        return handshakeTimer.deadline
            .earliest(shutdownTimer.deadline)
            .earliest(sender.retransmissionDeadline)
            .earliest(streamReset.requestDeadline)
            .earliest(receiver.sackDeadline)
    }

    /// Starts a graceful close (§9.2): queued data is delivered first, then SHUTDOWN.
    public func shutdown(now: Instant) {
        switch state {
        case .established:
            state = .shutdownPending
            flush(now: now)
        case .closed, .cookieWait, .cookieEchoed:
            terminate(.shutdown)
        default:
            break
        }
    }

    /// Ends the association at once with ABORT (§9.1), dropping queued data.
    public func abort() {
        guard state != .terminated else { return }
        if peerTag != 0, state != .closed {
            let cause = SCTPErrorCause(code: SCTPErrorCause.Code.userInitiatedAbort)
            send(packet: [.abort(reflectedTag: false, causes: [cause])], verificationTag: peerTag)
        }
        terminate(.abortedLocally)
    }

    // MARK: Internals shared by the extensions

    func record(_ reason: DropReason, in verdict: inout Verdict) {
        dropCounts[reason, default: 0] += 1
        if verdict == .accepted { verdict = .dropped(reason) }
    }

    func emit(_ event: Event) {
        events.append(event)
    }

    /// Packs `chunks` into as few packets as fit `maxPacketSize`, in order.
    func send(packet chunks: [SCTPChunk], verificationTag: UInt32) {
        let header = SCTPCommonHeader(sourcePort: configuration.localPort, destinationPort: configuration.remotePort,
                                      verificationTag: verificationTag)
        var current: [SCTPChunk] = []
        var size = SCTPPacket.headerLength
        for chunk in chunks {
            let length = chunk.encodedLength
            if !current.isEmpty, size + length > configuration.maxPacketSize {
                transmitQueue.append(SCTPPacket(header: header, chunks: current).serialized())
                current = []
                size = SCTPPacket.headerLength
            }
            current.append(chunk)
            size += length
        }
        if !current.isEmpty { transmitQueue.append(SCTPPacket(header: header, chunks: current).serialized()) }
    }

    /// Ends the association once: reports open channels closed, then `.closed(reason)`.
    func terminate(_ reason: CloseReason) {
        guard state != .terminated else { return }
        state = .terminated
        handshakeTimer = Timer()
        shutdownTimer = Timer()
        sender.stop()
        receiver.sackDeadline = nil
        streamReset.requestDeadline = nil
        for streamID in channels.keys.sorted() { emit(.channelClosed(streamID: streamID)) }
        channels = [:]
        emit(.closed(reason))
    }

    /// Updates SRTT, RTTVAR and RTO from one measurement (§6.3.1).
    func updateRTO(measured rtt: Duration) {
        if let smoothed = smoothedRTT {
            let difference = smoothed > rtt ? smoothed - rtt : rtt - smoothed
            rttVariation = rttVariation * 0.75 + difference * 0.25
            smoothedRTT = smoothed * 0.875 + rtt * 0.125
        } else {
            smoothedRTT = rtt
            rttVariation = rtt / 2
        }
        rto = clampRTO((smoothedRTT ?? rtt) + rttVariation * 4)
    }

    func clampRTO(_ value: Duration) -> Duration {
        min(max(value, configuration.minRTO), configuration.maxRTO)
    }
}

extension SCTPAssociation.PeerParameters {
    /// What a peer's INIT or INIT-ACK (§3.3.2, §3.3.3) tells of it.
    init(_ initiation: SCTPInitChunk) {
        self.init(
            tag: initiation.initiateTag, initialTSN: initiation.initialTSN,
            receiverWindow: initiation.advertisedReceiverWindowCredit,
            outboundStreams: initiation.outboundStreams, inboundStreams: initiation.inboundStreams,
            supportsForwardTSN: initiation.supportsForwardTSN, supportsReconfig: initiation.supportsReconfig)
    }
}

extension UInt32 {
    /// Serial number order for TSNs (RFC 9260 §1.6, RFC 1982).
    func tsnPrecedes(_ other: UInt32) -> Bool {
        Int32(bitPattern: self &- other) < 0
    }
}

extension UInt16 {
    /// Serial number order for stream sequence numbers (RFC 9260 §1.6).
    func ssnPrecedes(_ other: UInt16) -> Bool {
        Int16(bitPattern: self &- other) < 0
    }
}
