import Logging
import NIOCore
import ParleyNIO
import NIOPosix
import ParleyAgent
import ParleyRouting
import ParleyWebRTC
import ParleyWire

/// A call the signaling API answered.
public struct CallAnswer: Sendable {
    public let id: SessionID
    public let sdp: String
}

/// Why a call could not be set up, for the signaling API to turn into an HTTP answer.
public enum CallSetupError: Error, Sendable {
    case offer(SDPError)
    case unsupportedFingerprint(String)
    case capacity(limit: Int)
    case draining
    case internalFailure(String)
}

/// The media side of a transceiver: one UDP socket for every session, the session table
/// (by server ufrag for STUN, then by client address), timers and the echo pipeline.
///
/// All mutable state is confined to `eventLoop`: the socket's reads, the timers and the
/// signaling calls (submitted to the loop) all run there, so no locks are taken per packet.
public final class MediaEngine: @unchecked Sendable {
    public let eventLoop: any EventLoop
    public let configuration: TransceiverConfiguration
    public let metrics: TransceiverMetrics
    let certificate: DTLSCertificate
    private let logger: Logger
    private var channel: (any Channel)?
    private var sessions: [SessionID: MediaSession] = [:]
    private var sessionsByUfrag: [String: MediaSession] = [:]
    private var sessionsByPath: [MediaPath: MediaSession] = [:]
    private var pathsBySession: [SessionID: Set<MediaPath>] = [:]
    /// Clients by address, whatever relay they came through: a restarted relay, or another
    /// relay replica, may carry a known client on a new path before its next ICE check.
    private var sessionsByClient: [PeerAddress: MediaSession] = [:]
    private var isDraining = false
    /// Calls that ended lately, oldest first, so a client that hangs up the WebRTC way
    /// (RTCP BYE, DTLS close) and then sends DELETE still gets 204, not 404.
    private var recentlyEnded: [SessionID] = []
    private var recentlyEndedSet: Set<SessionID> = []
    private static let recentlyEndedLimit = 4_096
    private var pendingFlush = false

    /// Datagrams taken per `recvmmsg` call, and the largest datagram kept whole.
    private static let datagramsPerRead = 16
    private static let maxDatagramSize = 2_048

    /// Addresses one session may be reached from (RFC 8445 peer-reflexive candidates); more are ignored.
    private static let maxAddressesPerSession = 8

    public init(configuration: TransceiverConfiguration, metrics: TransceiverMetrics, eventLoop: any EventLoop, logger: Logger) throws(DTLSError) {
        self.configuration = configuration
        self.metrics = metrics
        self.eventLoop = eventLoop
        self.logger = logger
        certificate = try DTLSCertificate.generateSelfSigned()
        SRTPSession.prepareLibrary()
    }

    /// Binds the media socket; returns the bound address (the port is chosen when 0 is asked).
    public func start() async throws -> PeerAddress {
        let bootstrap = DatagramBootstrap(group: eventLoop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.datagramVectorReadMessageCount, value: Self.datagramsPerRead)
            // One recvmmsg per readiness event: a short batch already means the queue is
            // empty, so a second call would only return EAGAIN (epoll is level-triggered, so
            // a full batch brings the loop straight back).
            .channelOption(.maxMessagesPerRead, value: 1)
            // A vector read splits one buffer evenly across its messages: give each a full datagram.
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.datagramsPerRead * Self.maxDatagramSize))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DatagramHandler(
                        read: { self.receive($0) }, readComplete: { self.flushPendingWrites() }))
                }
            }
        let channel = try await bootstrap.bind(to: configuration.udpAddress.socketAddress).get()
        try await eventLoop.submit { self.channel = channel }.get()
        guard let local = channel.localAddress, let address = PeerAddress(local) else {
            throw CallSetupError.internalFailure("media socket has no local address")
        }
        return address
    }

    public func stop() async {
        try? await channel?.close()
    }

    public var sessionCount: Int {
        get async { (try? await eventLoop.submit { self.sessions.count }.get()) ?? 0 }
    }

    public var isAcceptingCalls: Bool {
        get async { (try? await eventLoop.submit { !self.isDraining }.get()) ?? false }
    }

    // MARK: Signaling

    /// Answers an SDP offer (RFC 8829 §5.3) and creates the session that will own the call.
    /// `session`, when given, is applied as the call's first `session.update`.
    public func createCall(offerSDP: String, session: RealtimeEvent? = nil) async throws -> CallAnswer {
        let offer: SDPOffer
        do {
            offer = try SDPOffer(parsing: offerSDP)
        } catch {
            throw CallSetupError.offer(error)
        }
        guard let remoteFingerprint = DTLSFingerprint(algorithm: offer.fingerprint.algorithm, hex: offer.fingerprint.value) else {
            throw CallSetupError.unsupportedFingerprint(offer.fingerprint.algorithm)
        }
        return try await eventLoop.submit {
            try self.insertCall(offer: offer, remoteFingerprint: remoteFingerprint, session: session)
        }.get()
    }

    /// Ends a call as the signaling API's DELETE asks; false when there is no such call
    /// (an id that ended lately counts as found: DELETE is idempotent, RFC 9110 §9.2.2).
    public func endCall(_ id: SessionID) async -> Bool {
        (try? await eventLoop.submit { () -> Bool in
            guard let session = self.sessions[id] else { return self.recentlyEndedSet.contains(id) }
            let now = Instant.now
            session.connection.close(now: now)
            self.driveAndFlush(session, now: now)
            return true
        }.get()) ?? false
    }

    /// Stops taking calls; live sessions continue until they end or `deadline` passes.
    public func drain(deadline: Duration) async {
        _ = try? await eventLoop.submit { self.isDraining = true }.get()
        let end = Instant.now + deadline
        while await sessionCount > 0, Instant.now < end {
            try? await Task.sleep(for: .milliseconds(100))
        }
        _ = try? await eventLoop.submit {
            let now = Instant.now
            for session in self.sessions.values {
                session.connection.close(now: now)
                self.drive(session, now: now)
            }
            self.flushPendingWrites()
        }.get()
    }

    private func insertCall(offer: SDPOffer, remoteFingerprint: DTLSFingerprint, session settings: RealtimeEvent?) throws -> CallAnswer {
        guard !isDraining else { throw CallSetupError.draining }
        guard sessions.count < configuration.maxSessions else {
            throw CallSetupError.capacity(limit: configuration.maxSessions)
        }
        // The server ufrag is a signed routing token naming this transceiver, so a relay
        // routes the first STUN packet with no lookup (docs/routing-token.md).
        var generator = SystemRandomNumberGenerator()
        var local: ICECredentials
        repeat {
            local = ICECredentials(
                ufrag: RoutingToken.issue(transceiver: configuration.tokenAddress, cluster: configuration.cluster,
                                          keyring: configuration.routingKeyring, using: &generator),
                password: ICECredentials.random().password)
        } while sessionsByUfrag[local.ufrag] != nil
        // RFC 8842 §5.2: an actpass or passive offerer lets us be the DTLS client, which
        // starts the handshake the moment ICE succeeds and saves half a round trip.
        guard let answerSetup = offer.setup.answerRole(preferring: .active) else {
            throw CallSetupError.offer(.unsupportedSetup(offer.setup.rawValue))
        }
        let dtlsRole: DTLSRole = answerSetup.isDTLSClient ? .client : .server
        let now = Instant.now
        let connection: PeerConnection
        do {
            connection = try PeerConnection(
                configuration: .init(
                    localICE: local, ice: .liteResponder(remoteUfrag: offer.iceUfrag),
                    certificate: certificate, remoteFingerprint: remoteFingerprint, dtlsRole: dtlsRole,
                    audioPayloadType: offer.audio.opusPayloadType,
                    dataChannels: acceptsDataChannel(offer) ? SCTPAssociation.Configuration(
                        isDTLSClient: dtlsRole == .client,
                        remotePort: offer.application?.sctpPort ?? 5000,
                        maxMessageSize: Int(min(offer.application?.maxMessageSize ?? 65_536, 262_144))) : nil),
                now: now)
        } catch {
            throw CallSetupError.internalFailure("\(error)")
        }
        let id = SessionID.random()
        let session = MediaSession(
            id: id, serverUfrag: local.ufrag, connection: connection, backend: makeBackend(for: id),
            metrics: metrics, createdAt: now)
        if let settings { session.backend.receiveClientEvent(settings) }
        let answer = SDPAnswerBuilder.answer(to: offer, with: SDPAnswerParameters(
            iceUfrag: local.ufrag, icePassword: local.password,
            fingerprint: DTLSFingerprintLine(algorithm: certificate.fingerprint.algorithm, digest: certificate.fingerprint.bytes),
            setup: answerSetup,
            candidates: configuration.candidates,
            sessionID: UInt64.random(in: 1...UInt64(Int64.max)),
            audioSSRC: connection.configuration.localSSRC,
            cname: connection.configuration.cname,
            acceptApplication: connection.configuration.dataChannels != nil))
        sessions[session.id] = session
        sessionsByUfrag[local.ufrag] = session
        metrics.sessions.increment()
        metrics.sessionsCreated.increment()
        rearm(session)
        logger.debug("call created", metadata: ["session": "\(session.id)"])
        return CallAnswer(id: session.id, sdp: answer)
    }

    /// RFC 8841: one data-channel section, bundled with the audio (one transport per call).
    private func acceptsDataChannel(_ offer: SDPOffer) -> Bool {
        guard let application = offer.application else { return false }
        guard let group = offer.bundleGroup else { return false }
        return application.mid.map(group.contains) == true && offer.audio.mid.map(group.contains) == true
    }

    private func makeBackend(for id: SessionID) -> any CallBackend {
        switch configuration.backend {
        case .agent:
            return AgentBackend()
        case .echo, .packetEcho:
            return EchoBackend()
        case .webSocket(let url):
            return WebSocketBackend(url: url, callID: id, logger: logger) { [weak self] in self?.wake(id) }
        }
    }

    /// Drains a session whose backend produced something off the event loop.
    private func wake(_ id: SessionID) {
        eventLoop.execute {
            guard let session = self.sessions[id] else { return }
            self.driveAndFlush(session, now: .now)
        }
    }

    // MARK: Datagrams

    /// One datagram from the media socket. Datagrams a relay encapsulated (RFC 7983 leaves
    /// their first byte unused) are unwrapped first; then STUN requests are routed by the
    /// server ufrag in USERNAME (RFC 8445 §7.2.2), everything else by the path ICE validated.
    func receive(_ envelope: AddressedEnvelope<ByteBuffer>) {
        metrics.packetsReceived.increment()
        guard let source = PeerAddress(envelope.remoteAddress) else { return metrics.drop("bad_source_address") }
        let bytes = envelope.data.readableBytesView
        let now = Instant.now
        guard PacketKind(bytes) == .relayed else {
            return receive(Array(bytes), on: MediaPath(relay: nil, client: source), now: now)
        }
        guard configuration.acceptsRelay(source.ip) else { return metrics.drop("relay_not_allowed") }
        // Parsed in place; only the client's own datagram is copied out.
        guard let (client, offset) = envelope.data.withUnsafeReadableBytes({ RelayEncapsulation.parse($0) }) else {
            return metrics.drop("encapsulation_malformed")
        }
        receive(Array(bytes.dropFirst(offset)), on: MediaPath(relay: source, client: client), now: now)
    }

    private func receive(_ datagram: [UInt8], on path: MediaPath, now: Instant) {
        var pathSession = sessionsByPath[path]
        if pathSession == nil, path.relay != nil, let known = sessionsByClient[path.client] {
            // Relays are trusted to vouch for the client address (only --relay networks may
            // encapsulate), so a known client arriving through a new relay keeps its call.
            learn(path, for: known)
            pathSession = sessionsByPath[path]
        }
        if PacketKind(datagram) == .stun {
            let message: STUNMessage
            do {
                message = try STUNMessage(parsing: datagram)
            } catch {
                return metrics.drop("stun_malformed")
            }
            if message.messageClass == .request {
                return receiveCheck(message, on: path, now: now)
            }
            guard let session = pathSession else { return metrics.drop("unknown_address") }
            record(session.connection.handle(message, from: path.client, now: now))
            return drive(session, now: now)
        }
        guard let session = pathSession else { return metrics.drop("unknown_address") }
        record(session.connection.handle(datagram, from: path.client, now: now))
        drive(session, now: now)
    }

    private func receiveCheck(_ message: STUNMessage, on path: MediaPath, now: Instant) {
        guard let username = message.username,
              let ufrag = username.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first,
              let session = sessionsByUfrag[String(ufrag)] else {
            return metrics.drop("unknown_ufrag")
        }
        let verdict = session.connection.handle(message, from: path.client, now: now)
        record(verdict)
        if verdict == .accepted { learn(path, for: session) }
        drive(session, now: now)
    }

    private func record(_ verdict: PeerConnection.Verdict) {
        if case .dropped(let reason) = verdict { metrics.drop(reason.rawValue) }
    }

    /// Remembers a path that passed an ICE check, so its other packets find the session and
    /// answers to that client go back the way it came (through its relay, or direct).
    private func learn(_ path: MediaPath, for session: MediaSession) {
        var known = pathsBySession[session.id, default: []]
        guard !known.contains(path), known.count < Self.maxAddressesPerSession else { return }
        if let previous = sessionsByPath[path], previous !== session {
            pathsBySession[previous.id]?.remove(path)
        }
        known.insert(path)
        pathsBySession[session.id] = known
        sessionsByPath[path] = session
        sessionsByClient[path.client] = session
        session.relayByClient[path.client] = path.relay
    }

    // MARK: Driving sessions

    /// Drains a session after input or a timeout: its transmits, its events, due audio; then
    /// re-arms its timer or, once it closed, frees everything it held. What it writes waits
    /// for `flushPendingWrites`, so one read batch leaves in one `sendmmsg`.
    private func drive(_ session: MediaSession, now: Instant) {
        guard !session.isRemoved else { return }
        var progressed = true
        while progressed {
            progressed = false
            while let event = session.connection.pollEvent() {
                progressed = true
                handle(event, of: session, now: now)
            }
            if session.pumpBackend(now: now) { progressed = true }
            session.flushClientEvents(now: now)
            if session.backendFailure != nil, !session.connection.isClosed {
                session.connection.close(now: now)
            }
            if session.connection.isMediaReady {
                do {
                    if try session.sendDueAudio(now: now) { noteFirstAudio(of: session, now: now) }
                } catch {
                    metrics.drop("opus_encode")
                }
            }
            while let transmit = session.connection.pollTransmit() {
                progressed = true
                send(transmit, via: session.relayByClient[transmit.destination] ?? nil, of: session)
            }
        }
        if session.connection.isClosed {
            session.backend.close()
            remove(session)
        } else {
            rearm(session)
        }
    }

    private func handle(_ event: PeerConnection.Event, of session: MediaSession, now: Instant) {
        switch event {
        case .iceConnected:
            metrics.iceConnectedAfter.record(now - session.createdAt)
        case .dtlsConnected:
            metrics.dtlsConnectedAfter.record(now - session.createdAt)
        case .audio(let audio) where configuration.backend == .packetEcho:
            session.echoPacket(audio, now: now)
            noteFirstAudio(of: session, now: now)
        case .audio(let audio):
            do {
                try session.receiveAudio(audio)
            } catch {
                metrics.drop("opus_decode")
            }
        case .dataChannel(let event):
            session.handleDataChannelEvent(event, now: now)
        case .dataChannelDropped(let reason):
            metrics.drop(reason.rawValue)
        case .closed(let reason):
            metrics.sessionEnded(session.backendFailure != nil ? "backend_failed" : reason.rawValue)
            logger.debug("call ended", metadata: ["session": "\(session.id)", "reason": "\(reason.rawValue)"])
        }
    }

    private func noteFirstAudio(of session: MediaSession, now: Instant) {
        guard session.firstAudioSentAt == nil else { return }
        session.firstAudioSentAt = now
        metrics.firstAudioAfter.record(now - session.createdAt)
    }

    /// Sends a datagram to its client, encapsulated for the relay it came through if any.
    private func send(_ transmit: Transmit, via relay: PeerAddress?, of session: MediaSession) {
        guard let channel else { return }
        let headerLength = relay.map { _ in RelayEncapsulation.headerLength(for: transmit.destination) } ?? 0
        var buffer = channel.allocator.buffer(capacity: headerLength + transmit.payload.count)
        if headerLength > 0 {
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: headerLength) {
                RelayEncapsulation.writeHeader(client: transmit.destination, into: $0)
            }
        }
        buffer.writeBytes(transmit.payload)
        let socket = session.destination.socketAddress(for: relay ?? transmit.destination)
        channel.write(AddressedEnvelope(remoteAddress: socket, data: buffer), promise: nil)
        metrics.packetsSent.increment()
        pendingFlush = true
    }

    /// `drive` for work outside a read batch (a timer, a wake-up, a signaling call): its
    /// datagrams go out at once.
    private func driveAndFlush(_ session: MediaSession, now: Instant) {
        drive(session, now: now)
        flushPendingWrites()
    }

    /// Sends what `drive` wrote. Called once per batch of datagrams read (NIO then writes
    /// them with one `sendmmsg`), and after every timer or off-loop wake-up.
    private func flushPendingWrites() {
        guard pendingFlush else { return }
        pendingFlush = false
        channel?.flush()
    }

    private func rearm(_ session: MediaSession) {
        let deadline = session.nextDeadline()
        guard deadline != session.timerDeadline else { return }
        session.timer?.cancel()
        session.timerDeadline = deadline
        guard let deadline else {
            session.timer = nil
            return
        }
        session.timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline.nioDeadline) { [weak self, weak session] in
            guard let self, let session else { return }
            session.timer = nil
            session.timerDeadline = nil
            let now = Instant.now
            session.connection.handleTimeout(now: now)
            self.driveAndFlush(session, now: now)
        }
    }

    private func remove(_ session: MediaSession) {
        session.isRemoved = true
        session.timer?.cancel()
        session.timer = nil
        sessions[session.id] = nil
        sessionsByUfrag[session.serverUfrag] = nil
        for path in pathsBySession.removeValue(forKey: session.id) ?? [] {
            if sessionsByPath[path] === session { sessionsByPath[path] = nil }
            if sessionsByClient[path.client] === session { sessionsByClient[path.client] = nil }
        }
        metrics.sessions.decrement()
        recentlyEnded.append(session.id)
        recentlyEndedSet.insert(session.id)
        if recentlyEnded.count > Self.recentlyEndedLimit {
            recentlyEndedSet.remove(recentlyEnded.removeFirst())
        }
    }
}

/// How a client's datagrams reach this transceiver: through a relay (which wraps them with
/// the client's address) or directly. Sessions are keyed by both, so two relays may carry
/// clients whose addresses collide.
struct MediaPath: Hashable {
    var relay: PeerAddress?
    var client: PeerAddress
}
