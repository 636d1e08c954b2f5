import ParleyAgent
import ParleyRouting
import ParleyWebRTC
import ParleyWire

/// The server side of every call on one socket, sans-IO: the session table, the
/// classification of each datagram (relay encapsulation, STUN by ufrag, the rest by path),
/// the calls, their transmits and one deadline for all of them.
///
/// A runtime feeds it datagrams (`handle(_:from:now:)`), timeouts (`handleTimeout(now:)`),
/// signaling operations and backend wake-ups, each with the current `Instant`; then drains
/// `pollTransmit(into:)` into memory it lends (the relay header written in front where the
/// client came through a relay, docs/relay-encapsulation.md), drains `pollEvent()` and arms
/// one timer at `nextDeadline()`. Nothing here reads a clock, touches a socket or starts a
/// thread; randomness (session ids, ICE credentials, token nonces, SSRCs, RTP and SCTP
/// initial values) comes from the generator it is given.
public final class TransceiverEndpoint {
    /// What every call of an endpoint shares.
    public struct Configuration: Sendable {
        public var certificate: DTLSCertificate
        /// Where relays reach this endpoint's socket: the address routing tokens name
        /// (docs/routing-token.md).
        public var tokenAddress: PeerAddress
        /// The cluster routing tokens name.
        public var cluster: UInt16
        public var routingKeyring: RoutingKeyring
        /// Host candidates written into answers (RFC 8839 §5.1).
        public var candidates: [PeerAddress]
        /// Relay TCP addresses written into answers as `tcptype passive` host candidates
        /// (RFC 6544 §4.5), after and below the UDP ones.
        public var tcpCandidates: [PeerAddress]
        /// Sources whose datagrams may carry the relay encapsulation.
        public var relayNetworks: [IPNetwork]
        public var mediaMode: MediaMode
        /// libopus complexity (0-10) of the encoder each call makes for its output.
        public var opusComplexity: Int32
        /// How many ended ids DELETE still answers for.
        public var recentlyEndedLimit: Int
        /// 20 ms frames of the backend's audio a call queues for the caller; beyond, the oldest
        /// are dropped (`playout_overflow`).
        public var playoutCapacity = PacedAudioOutput.defaultCapacity
        /// Where the other transceivers of the cluster reach this one's signaling: call ids
        /// name it (signed), so control requests that reach another are forwarded here.
        public var controlAddress: PeerAddress?

        public init(
            certificate: DTLSCertificate, tokenAddress: PeerAddress, cluster: UInt16 = 0,
            routingKeyring: RoutingKeyring, candidates: [PeerAddress], tcpCandidates: [PeerAddress] = [],
            relayNetworks: [IPNetwork] = [],
            mediaMode: MediaMode = .decoded, opusComplexity: Int32 = 5, recentlyEndedLimit: Int = 4_096,
            controlAddress: PeerAddress? = nil
        ) {
            self.controlAddress = controlAddress
            self.certificate = certificate
            self.tokenAddress = tokenAddress
            self.cluster = cluster
            self.routingKeyring = routingKeyring
            self.candidates = candidates
            self.tcpCandidates = tcpCandidates
            self.relayNetworks = relayNetworks
            self.mediaMode = mediaMode
            self.opusComplexity = opusComplexity
            self.recentlyEndedLimit = recentlyEndedLimit
        }

        /// True when datagrams from `source` may carry the relay encapsulation.
        public func acceptsRelay(_ source: IPAddress) -> Bool {
            relayNetworks.contains { $0.contains(source) }
        }
    }

    /// What happens to the caller's audio.
    public enum MediaMode: Sendable, Equatable {
        /// Decoded for the backend; the backend's audio is encoded and paced out.
        case decoded
        /// Each received Opus packet is sent straight back, not decoded: the transport alone
        /// (SRTP in and out), for capacity measurements.
        case packetEcho
    }

    /// What the runtime records: set-up stages, call ends and drops.
    public enum Event: Sendable, Equatable {
        /// Times count from the offer's arrival (`createCall`).
        case iceConnected(SessionID, after: Duration)
        /// `embeddedInSTUN`: SPED carried the handshake.
        case dtlsConnected(SessionID, after: Duration, embeddedInSTUN: Bool)
        case firstAudio(SessionID, after: Duration)
        /// The caller's end of speech (as detected) to the first answer packet sent.
        case turnLatency(SessionID, Duration)
        /// The call left the table; `reason` names why, as `parley_sessions_ended_total` does.
        case callEnded(SessionID, reason: String)
        case dropped(DropReason)
        /// Caller audio frames the jitter buffer rebuilt or invented for lost packets.
        case audioRepaired(AudioRepair, frames: Int)
        /// A server event of a call a sideband watches (`attachSideband(_:)`), as the caller
        /// was sent it.
        case serverEvent(SessionID, RealtimeEvent)
    }

    /// How a lost caller packet's frames were filled: the `method` label of
    /// `parley_audio_frames_repaired_total`.
    public enum AudioRepair: String, Sendable, Equatable {
        /// Rebuilt from the next packet's in-band FEC data (RFC 6716 §2.1.7).
        case inBandFEC = "fec"
        /// Concealed by the decoder (RFC 6716 §4.4).
        case concealment
    }

    /// Why a datagram (or an event for the caller) was dropped: the `reason` label of
    /// `parley_packets_dropped_total`.
    public struct DropReason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String

        public init(rawValue: String) {
            self.rawValue = rawValue
        }

        public init(_ reason: PeerConnection.DropReason) {
            rawValue = reason.rawValue
        }

        public init(_ reason: SCTPAssociation.DropReason) {
            rawValue = reason.rawValue
        }

        public var description: String { rawValue }

        /// Relay-encapsulated, from a source outside the allowed relay networks.
        public static let relayNotAllowed = DropReason(rawValue: "relay_not_allowed")
        /// A frame of the backend's audio dropped because the call's output queue was full.
        public static let playoutOverflow = DropReason(rawValue: "playout_overflow")
        public static let encapsulationMalformed = DropReason(rawValue: "encapsulation_malformed")
        public static let stunMalformed = DropReason(rawValue: "stun_malformed")
        /// A STUN request whose USERNAME names no live call.
        public static let unknownUfrag = DropReason(rawValue: "unknown_ufrag")
        /// Anything else from a path that never passed an ICE check.
        public static let unknownAddress = DropReason(rawValue: "unknown_address")
        public static let opusDecode = DropReason(rawValue: "opus_decode")
        /// Audio that arrived after its slot was filled from FEC or concealment because a
        /// later packet was already here (the jitter buffer's depth adapts to make these rare).
        public static let late = DropReason(rawValue: "late")
        /// Audio whose sequence number was already buffered or played.
        public static let duplicate = DropReason(rawValue: "duplicate")
        /// Audio beyond what the jitter buffer holds (a flood of future sequence numbers).
        public static let jitterBufferOverflow = DropReason(rawValue: "jitter_buffer_overflow")
        /// Audio whose sequence number jumped too far and was not confirmed (RFC 3550 A.1).
        public static let sequenceJump = DropReason(rawValue: "sequence_jump")
        /// Buffered audio discarded when the caller's stream restarted.
        public static let jitterBufferFlushed = DropReason(rawValue: "jitter_buffer_flushed")
        public static let opusEncode = DropReason(rawValue: "opus_encode")
        public static let clientEventQueueFull = DropReason(rawValue: "client_event_queue_full")
        public static let clientEventSendFailed = DropReason(rawValue: "client_event_send_failed")
        public static let clientEventMalformed = DropReason(rawValue: "client_event_malformed")
        public static let dataChannelUnknownChannel = DropReason(rawValue: "data_channel_unknown_channel")
        /// A transmit longer than the buffer the runtime lent.
        public static let transmitTooLarge = DropReason(rawValue: "transmit_too_large")
    }

    /// A buffer this long takes any transmit, relay header included.
    public static let maxTransmitLength = 2_048 + RelayEncapsulation.maximumHeaderLength

    public var configuration: Configuration
    /// Set by `drain(now:)`: new calls are refused from then on.
    public private(set) var isDraining = false

    private var table: SessionTable
    private var deadlines = DeadlineHeap<Call>()
    /// Calls that may have transmits queued, in the order they were driven.
    private var output = FIFO<Call>()
    private var outputCall: Call?
    private var events = FIFO<Event>()
    private var random: any RandomNumberGenerator

    public init(configuration: Configuration, random: some RandomNumberGenerator = SystemRandomNumberGenerator()) {
        self.configuration = configuration
        self.random = random
        table = SessionTable(recentlyEndedLimit: configuration.recentlyEndedLimit)
    }

    /// Live calls.
    public var callCount: Int { table.count }

    /// Entries in the tables that follow live calls: every index of the session table and
    /// the deadline heap. All are zero when no call is live, so a soak can check they return
    /// there after its calls end.
    public struct TableSizes: Sendable, Equatable {
        public var sessions: Int
        public var ufrags: Int
        public var paths: Int
        public var clients: Int
        public var deadlines: Int

        /// Each table by the name metrics give it.
        public var named: [(table: String, entries: Int)] {
            [("sessions", sessions), ("ufrags", ufrags), ("paths", paths), ("clients", clients), ("deadlines", deadlines)]
        }
    }

    public var tableSizes: TableSizes {
        let indexes = table.indexSizes
        return TableSizes(sessions: table.count, ufrags: indexes.ufrags, paths: indexes.paths, clients: indexes.clients,
                          deadlines: deadlines.count)
    }

    // MARK: Signaling

    /// Answers a parsed SDP offer (RFC 8829 §5.3) and creates the call that will own it.
    /// `makeBackend` builds the call's backend once its id exists; `settings`, when given,
    /// is the backend's first client event (a `session.update`); `maxDuration` ends the call
    /// that long after now, whatever happens; `candidates`, when given, replace the
    /// configured ones in this answer (the ingress of the caller's region).
    public func createCall(
        offer: SDPOffer, settings: RealtimeEvent? = nil, maxDuration: Duration? = nil,
        candidates: AnswerCandidates? = nil, now: Instant,
        makeBackend: (SessionID) -> any CallBackend
    ) throws(CallSetupError) -> CallAnswer {
        guard !isDraining else { throw .draining }
        guard let remoteFingerprint = DTLSFingerprint(algorithm: offer.fingerprint.algorithm, hex: offer.fingerprint.value) else {
            throw .unsupportedFingerprint(offer.fingerprint.algorithm)
        }
        // RFC 8842 §5.2: an actpass or passive offerer lets us be the DTLS client, which
        // starts the handshake the moment ICE succeeds and saves half a round trip. With SPED
        // (draft-hancke-webrtc-sped) too: our ClientHello rides the response to the first
        // check. As the DTLS server we would wait for the caller's ClientHello, which
        // Chromium's post-quantum key share splits in two, the second only sent once that
        // response arrives: a round trip later (docs/transceiver.md, "SPED").
        let spedOptions = SPEDICEOption.accepted(from: offer.iceOptions)
        guard let answerSetup = offer.setup.answerRole(preferring: .active) else {
            throw .offer(.unsupportedSetup(offer.setup.rawValue))
        }
        // The server ufrag is a signed routing token naming this endpoint's socket, so a
        // relay routes the first STUN packet with no lookup (docs/routing-token.md).
        var local: ICECredentials
        repeat {
            local = ICECredentials(
                ufrag: RoutingToken.issue(transceiver: configuration.tokenAddress, cluster: configuration.cluster,
                                          keyring: configuration.routingKeyring, using: &random),
                password: ICECredentials.random(using: &random).password)
        } while table.containsUfrag(local.ufrag)
        let dtlsRole: DTLSRole = answerSetup.isDTLSClient ? .client : .server
        let connection: PeerConnection
        do {
            connection = try PeerConnection(
                configuration: .init(
                    localICE: local, ice: .liteResponder(remoteUfrag: offer.iceUfrag),
                    certificate: configuration.certificate, remoteFingerprint: remoteFingerprint, dtlsRole: dtlsRole,
                    audioPayloadType: offer.audio.opusPayloadType,
                    localSSRC: UInt32.random(in: 1...UInt32.max, using: &random),
                    dataChannels: Self.acceptsDataChannel(offer) ? SCTPAssociation.Configuration(
                        isDTLSClient: dtlsRole == .client,
                        remotePort: offer.application?.sctpPort ?? 5000,
                        maxMessageSize: Int(min(offer.application?.maxMessageSize ?? 65_536, 262_144)),
                        peerInitiation: offer.application?.sctpInitiation) : nil,
                    telephoneEventPayloadType: offer.audio.telephoneEventPayloadType,
                    embedsDTLSInSTUN: !spedOptions.isEmpty),
                now: now, using: &random)
        } catch {
            throw .internalFailure("\(error)")
        }
        var id: SessionID
        repeat {
            id = SessionID.random(using: &random, owner: configuration.controlAddress, keyring: configuration.routingKeyring)
        } while table.call(id) != nil || table.hasRecentlyEnded(id)
        let call = Call(
            id: id, serverUfrag: local.ufrag, connection: connection, backend: makeBackend(id),
            mediaMode: configuration.mediaMode, encoderComplexity: configuration.opusComplexity, createdAt: now,
            maxDuration: maxDuration, playoutCapacity: configuration.playoutCapacity)
        if let settings { call.receiveClientEvent(settings) }
        let certificate = configuration.certificate
        let answer = SDPAnswerBuilder.answer(to: offer, with: SDPAnswerParameters(
            iceUfrag: local.ufrag, icePassword: local.password,
            fingerprint: DTLSFingerprintLine(algorithm: certificate.fingerprint.algorithm, digest: certificate.fingerprint.bytes),
            setup: answerSetup,
            candidates: candidates?.udp ?? configuration.candidates,
            tcpCandidates: candidates?.tcp ?? configuration.tcpCandidates,
            sessionID: UInt64.random(in: 1...UInt64(Int64.max), using: &random),
            audioSSRC: connection.configuration.localSSRC,
            cname: connection.configuration.cname,
            acceptApplication: connection.configuration.dataChannels != nil,
            iceOptions: spedOptions,
            sctpInitiation: connection.localSCTPInitiation))
        table.insert(call)
        drive(call, now: now)
        return CallAnswer(id: id, sdp: answer, sctpSetup: connection.configuration.dataChannels.map { dataChannels in
            dataChannels.peerInitiation != nil ? .snap : .handshake
        })
    }

    /// RFC 8841: one data-channel section, bundled with the audio (one transport per call).
    private static func acceptsDataChannel(_ offer: SDPOffer) -> Bool {
        guard let application = offer.application else { return false }
        guard let group = offer.bundleGroup else { return false }
        return application.mid.map(group.contains) == true && offer.audio.mid.map(group.contains) == true
    }

    /// Ends a call as the signaling API's DELETE asks (RTCP BYE and DTLS close_notify go
    /// out); false when there is no such call. An id that ended lately counts as found:
    /// DELETE is idempotent (RFC 9110 §9.2.2).
    public func endCall(_ id: SessionID, now: Instant) -> Bool {
        guard let call = table.call(id) else { return table.hasRecentlyEnded(id) }
        call.close(now: now)
        drive(call, now: now)
        return true
    }

    /// True when `id` is live or ended lately.
    public func knowsCall(_ id: SessionID) -> Bool {
        table.call(id) != nil || table.hasRecentlyEnded(id)
    }

    /// Stops taking calls; live calls go on.
    public func drain() {
        isDraining = true
    }

    /// Ends every live call: the drain deadline passed. Each caller gets an `error` event
    /// saying so, and each end is counted as `drain_deadline`. Returns how many were cut.
    public func endCallsAtDrainDeadline(now: Instant) -> Int {
        let live = Array(table.byID.values)
        for call in live {
            call.endAtDrainDeadline(now: now)
            drive(call, now: now)
        }
        return live.count
    }

    /// A sideband (`GET /v1/realtime?call_id=`) joins call `id`: from now on its server
    /// events are reported as `serverEvent`. Returns the `session.created` the sideband
    /// starts with, or nil when the call is not live.
    public func attachSideband(_ id: SessionID) -> RealtimeEvent? {
        table.call(id)?.attachSideband()
    }

    /// A sideband of call `id` left.
    public func detachSideband(_ id: SessionID) {
        table.call(id)?.detachSideband()
    }

    /// A client event for call `id` from a sideband: it takes effect as if the caller had
    /// sent it on `oai-events`. False when the call is not live.
    public func receiveClientEvent(_ event: RealtimeEvent, for id: SessionID, now: Instant) -> Bool {
        guard let call = table.call(id) else { return false }
        call.receiveClientEvent(event)
        drive(call, now: now)
        return true
    }

    /// A backend produced output on its own: the call polls it.
    public func wakeCall(_ id: SessionID, now: Instant) {
        guard let call = table.call(id) else { return }
        drive(call, now: now)
    }

    // MARK: Datagrams

    /// One datagram from `source`. Datagrams a relay encapsulated (RFC 7983 leaves their
    /// first byte unused) are unwrapped first, if the relay is allowed; then STUN requests
    /// are routed by the server ufrag in USERNAME (RFC 8445 §7.2.2), everything else by the
    /// path ICE validated. A relayed ICE-TCP client's frames (marked TCP) are datagrams like
    /// any other here; only their path remembers the transport, for the replies.
    public func handle(_ datagram: UnsafeRawBufferPointer, from source: PeerAddress, now: Instant) {
        guard datagram.first == RelayEncapsulation.marker else {
            return receive(datagram, on: MediaPath(relay: nil, client: source), now: now)
        }
        guard configuration.acceptsRelay(source.ip) else { return drop(.relayNotAllowed) }
        guard let (client, transport, offset) = RelayEncapsulation.parse(datagram) else { return drop(.encapsulationMalformed) }
        receive(UnsafeRawBufferPointer(rebasing: datagram[offset...]),
                on: MediaPath(relay: source, client: client, transport: transport), now: now)
    }

    /// `handle(_:from:now:)` for a datagram held in an array.
    public func handle(_ datagram: [UInt8], from source: PeerAddress, now: Instant) {
        datagram.withUnsafeBytes { handle($0, from: source, now: now) }
    }

    /// Routes one client datagram. What comes from an address no check has passed costs a
    /// path lookup, and for a Binding request an in-place scan for USERNAME and a lookup of
    /// its server ufrag, before anything is copied or parsed (no FINGERPRINT or
    /// MESSAGE-INTEGRITY work): a flood from strangers, random bytes or made-up checks, is
    /// dropped at that cost.
    private func receive(_ datagram: UnsafeRawBufferPointer, on path: MediaPath, now: Instant) {
        let pathCall = table.call(on: path)
        guard PacketKind(datagram) == .stun else {
            guard let call = pathCall else { return drop(.unknownAddress) }
            if call.handle(Array(datagram), from: path.client, now: now) { table.learn(path, for: call) }
            return drive(call, now: now)
        }
        if pathCall == nil, let username = STUNPeek.username(in: datagram) {
            let value = UnsafeRawBufferPointer(rebasing: datagram[username])
            let ufrag = value.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false).first ?? value[...]
            guard table.call(ufrag: String(decoding: ufrag, as: UTF8.self)) != nil else { return drop(.unknownUfrag) }
        }
        let message: STUNMessage
        do {
            message = try STUNMessage(parsing: Array(datagram))
        } catch {
            return drop(.stunMalformed)
        }
        guard message.messageClass == .request else {
            guard let call = pathCall else { return drop(.unknownAddress) }
            _ = call.handle(message, from: path.client, now: now)
            return drive(call, now: now)
        }
        guard let username = message.username,
              let ufrag = username.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first,
              let call = table.call(ufrag: ufrag) else {
            return drop(.unknownUfrag)
        }
        if call.handle(message, from: path.client, now: now) { table.learn(path, for: call) }
        drive(call, now: now)
    }

    private func drop(_ reason: DropReason) {
        events.append(.dropped(reason))
    }

    // MARK: Time

    /// Runs every call whose deadline is at or before `now`.
    public func handleTimeout(now: Instant) {
        while let call = deadlines.popDue(now: now) {
            call.handleTimeout(now: now)
            drive(call, now: now)
        }
    }

    /// The earliest deadline of any call.
    public func nextDeadline() -> Instant? {
        deadlines.first
    }

    // MARK: Output

    /// Writes the next datagram to send into `buffer`, the relay header first (marked TCP for
    /// an ICE-TCP client) when its path came through a relay; nil when nothing is queued. The destination is the client, or
    /// the relay its path came through. A buffer of `maxTransmitLength` bytes takes any datagram.
    public func pollTransmit(into buffer: UnsafeMutableRawBufferPointer) -> OutgoingDatagram? {
        while true {
            if outputCall == nil {
                guard let next = output.popFirst() else { return nil }
                outputCall = next
            }
            guard let call = outputCall else { return nil }
            guard let transmit = call.connection.pollTransmit() else {
                call.isQueuedForOutput = false
                outputCall = nil
                continue
            }
            let path = call.path(toward: transmit.destination)
            let relay = path?.relay
            let headerLength = relay == nil ? 0 : RelayEncapsulation.headerLength(for: transmit.destination)
            let length = headerLength + transmit.payload.count
            guard length <= buffer.count else {
                drop(.transmitTooLarge)
                continue
            }
            if let path, relay != nil {
                _ = RelayEncapsulation.writeHeader(client: transmit.destination, transport: path.transport, into: buffer)
            }
            transmit.payload.withUnsafeBytes { payload in
                UnsafeMutableRawBufferPointer(rebasing: buffer[headerLength..<length]).copyMemory(from: payload)
            }
            return OutgoingDatagram(destination: relay ?? transmit.destination, length: length)
        }
    }

    public func pollEvent() -> Event? {
        events.popFirst()
    }

    // MARK: Driving calls

    /// After any input to a call: its events become the endpoint's, it is queued for
    /// transmits, and it is rescheduled or, once closed, leaves the table (its last
    /// datagrams, BYE and close_notify, still go out).
    private func drive(_ call: Call, now: Instant) {
        call.drive(now: now)
        while let event = call.pollEvent() {
            switch event {
            case .iceConnected(let after): events.append(.iceConnected(call.id, after: after))
            case .dtlsConnected(let after, let embedded): events.append(.dtlsConnected(call.id, after: after, embeddedInSTUN: embedded))
            case .firstAudio(let after): events.append(.firstAudio(call.id, after: after))
            case .turnLatency(let latency): events.append(.turnLatency(call.id, latency))
            case .dropped(let reason): events.append(.dropped(reason))
            case .audioRepaired(let repair, let frames): events.append(.audioRepaired(repair, frames: frames))
            case .serverEvent(let event): events.append(.serverEvent(call.id, event))
            }
        }
        if !call.isQueuedForOutput {
            call.isQueuedForOutput = true
            output.append(call)
        }
        if call.isClosed {
            deadlines.remove(call)
            guard table.call(call.id) === call else { return }
            table.remove(call)
            events.append(.callEnded(call.id, reason: call.endReason ?? PeerConnection.CloseReason.localClose.rawValue))
        } else {
            deadlines.schedule(call, at: call.nextDeadline())
        }
    }
}

/// A call the signaling API answered.
public struct CallAnswer: Sendable {
    public let id: SessionID
    public let sdp: String
    /// How the call's SCTP association for data channels comes up; nil when the answer
    /// accepted no data channel.
    public let sctpSetup: SCTPSetup?
}

/// How an SCTP association for data channels is set up.
public enum SCTPSetup: String, Sendable {
    /// SNAP (draft-hancke-tsvwg-snap-00): both INIT chunks went through the SDP
    /// (`a=sctp-init`), so the association is up as soon as DTLS is.
    case snap
    /// The four-way handshake after DTLS (RFC 9260 §5.1).
    case handshake
}

/// Why a call could not be set up, for the signaling API to turn into an HTTP answer.
public enum CallSetupError: Error, Sendable {
    case offer(SDPError)
    case unsupportedFingerprint(String)
    case capacity(limit: Int)
    /// Every shard's event loop is behind (its timers run late): a new call would degrade
    /// the live ones.
    case overloaded
    case draining
    case internalFailure(String)
}
