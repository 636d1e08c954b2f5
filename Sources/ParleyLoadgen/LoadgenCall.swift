import Foundation
import NIOCore
import ParleyNIO
import ParleyWebRTC
import ParleyWire

/// What every call of one run shares.
struct CallSettings: Sendable {
    var certificate: DTLSCertificate
    var audio: LoadgenConfiguration.AudioMode
    var echoCheck: Bool
    var bindHost: String
    var setupTimeout: Duration
    /// Pre-encoded one-second loops by frequency (empty for live encoding and idle calls).
    var preEncoded: [Int: [[UInt8]]]
    /// One pre-encoded second of silence, for the pauses of calls that take turns.
    var preEncodedSilence: [[UInt8]]
    var turns: TurnPattern?
    var events: Bool
    /// Offer SPED and use it when the answer accepts it.
    var sped: Bool
    /// With `events`, offer `a=sctp-init` (SNAP).
    var snap: Bool
}

/// One WebRTC call made by Parley's client role (ICE controlling, RFC 8445 §7.2): a
/// `PeerConnection`, a tone sent every 20 ms, and the accounting of what the echo brought
/// back; or, talking to a voice agent, turns of tone and silence (`TurnTaking`) and the
/// answers heard, with the agent's events on `oai-events` when asked for. It is the endpoint of its own `UDPDriver` (one socket, one timer at the earliest of
/// the connection's deadline, the next audio frame and the set-up timeout), the same driver a
/// transceiver shard runs on, so it lives on that driver's event loop for its whole life.
final class LoadgenCall: DatagramEndpoint {
    enum Phase: Int, Comparable, Sendable {
        case pending, signaling, connecting, media, stopped, ending, ended

        static func < (lhs: Phase, rhs: Phase) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// What the load generator holds of a call: its index and its driver.
    struct Handle: Sendable {
        let index: Int
        let driver: UDPDriver<LoadgenCall>

        /// A new call `index` on a driver of its own on `eventLoop`.
        init(index: Int, settings: CallSettings, eventLoop: any EventLoop) throws(OpusError) {
            self.index = index
            driver = UDPDriver(endpoint: try LoadgenCall(index: index, settings: settings), eventLoop: eventLoop)
        }

        var eventLoop: any EventLoop { driver.eventLoop }
    }

    let index: Int
    private let settings: CallSettings
    private let tone: ToneSender?
    private let frequency: Int

    private(set) var phase = Phase.pending
    private(set) var failure: String?
    private(set) var location: String?
    private(set) var framesSent: UInt64 = 0
    private(set) var echoesReceived: UInt64 = 0
    private var connection: PeerConnection?
    private var setupDeadline: Instant?
    private var drops: [String: Int] = [:]

    private var startedAt: Instant?
    private var answeredAt: Instant?
    private var iceConnectedAt: Instant?
    private var dtlsConnectedAt: Instant?
    private var firstSendAt: Instant?
    private var firstEchoAt: Instant?

    private var audioStart: Instant?
    private var nextAudioAt: Instant?
    private var paceResyncs = 0
    private var framesSentAtFirstEcho: UInt64 = 0
    private var framesSentAtStop: UInt64?
    private var lastFrameWasSpeech = false
    /// Echoes that arrive after this instant answer packets sent after the first echo came
    /// back: the first echo's delay, added to its arrival.
    private var echoCountingFrom: Instant?
    private var echoesCounted: UInt64 = 0
    /// With --echo-check: the decoder for the echo and its last second of samples.
    private var echo: (decoder: OpusDecoder, samples: SampleRing)?
    /// With --turns: which frames are speech, and the answers heard.
    private var conversation: TurnTaking?
    private var eventsChannelOpenedAt: Instant?
    /// How the association came up, once it did.
    private var sctpSetup: String?
    private var responsesDone = 0

    init(index: Int, settings: CallSettings) throws(OpusError) {
        self.index = index
        self.settings = settings
        frequency = ToneAudio.frequency(forCall: index)
        switch settings.audio {
        case .preEncoded:
            tone = ToneSender(frequency: frequency, preEncoded: settings.preEncoded[frequency] ?? [],
                              preEncodedSilence: settings.preEncodedSilence)
        case .live:
            tone = try ToneSender(liveFrequency: frequency)
        case .idle:
            tone = nil
        }
        conversation = settings.turns.map(TurnTaking.init(pattern:))
        if settings.echoCheck {
            echo = (try OpusDecoder(sampleRate: Int32(ToneAudio.sampleRate), channels: 1),
                    SampleRing(capacity: ToneAudio.sampleRate))
        }
    }

    // MARK: Setup (the orchestrator's task)

    /// Binds the call's socket, posts its offer and, on the loop, starts ICE toward the
    /// answer's candidates. Failures are recorded on the call, never thrown.
    static func start(_ call: Handle, settings: CallSettings, signaling: SignalingClient) async {
        let driver = call.driver
        _ = try? await driver.run { call, _ in call.phase = .signaling }
        let local: PeerAddress
        do {
            local = try await driver.bind(to: SocketAddress.makeAddressResolvingHost(settings.bindHost, port: 0), options: .single)
        } catch {
            _ = try? await driver.run { call, now in call.fail("UDP bind failed: \(error)", now: now) }
            return
        }
        let ice = ICECredentials.random()
        let ssrc = UInt32.random(in: 1...UInt32.max)
        let certificate = settings.certificate
        let dataChannels = offeredDataChannels(settings)
        let offer = SDPOfferBuilder.offer(with: SDPOfferParameters(
            iceUfrag: ice.ufrag, icePassword: ice.password,
            fingerprint: DTLSFingerprintLine(algorithm: certificate.fingerprint.algorithm, digest: certificate.fingerprint.bytes),
            sessionID: UInt64.random(in: 1...UInt64(Int64.max)), audioSSRC: ssrc, cname: "loadgen-\(call.index)",
            offerApplication: dataChannels != nil, sctpInitiation: dataChannels?.localInitiation,
            iceOptions: settings.sped ? [SPEDICEOption.draft] : []))
        // Set-up time counts from the POST, as a browser's would from its fetch: the socket
        // and the offer are the client's own preparation.
        let startedAt = Instant.now
        let answerText: String
        let location: String
        do {
            (answerText, location) = try await signaling.postOffer(offer)
        } catch {
            _ = try? await driver.run { call, now in call.fail(error.description, now: now) }
            return
        }
        let answeredAt = Instant.now
        let answer: Result<SDPAnswer, SDPError> = Result { () throws(SDPError) in try SDPAnswer(parsing: answerText) }
        _ = try? await driver.run { call, now in
            call.location = location
            call.startedAt = startedAt
            call.answeredAt = answeredAt
            switch answer {
            case .success(let answer):
                call.begin(answer: answer, local: ice, ssrc: ssrc, offered: dataChannels, wantsIPv4: local.ip.isIPv4, now: now)
            case .failure(let error):
                call.fail("answer SDP rejected: \(error)", now: now)
            }
        }
    }

    /// The association an offer announces with `--events`: its INIT goes into the offer's
    /// `a=sctp-init` unless `--no-snap`. The DTLS role is the answer's to decide.
    static func offeredDataChannels(_ settings: CallSettings) -> SCTPAssociation.Configuration? {
        guard settings.events else { return nil }
        var configuration = SCTPAssociation.Configuration(isDTLSClient: false)
        if settings.snap {
            var generator = SystemRandomNumberGenerator()
            configuration.localInitiation = configuration.makeInitiation(using: &generator)
        }
        return configuration
    }

    /// The offered association as the answer completes it: the DTLS role sets which stream
    /// IDs we open channels on (RFC 8832 §6), and the answer's `a=sctp-init`, when our offer
    /// had one, makes it SNAP (draft-hancke-tsvwg-snap-00). nil when the answer rejected the
    /// data channel section.
    static func answeredDataChannels(offered: SCTPAssociation.Configuration?, answer: SDPAnswer,
                                     dtlsRole: DTLSRole) -> SCTPAssociation.Configuration? {
        guard var configuration = offered, let application = answer.application else { return nil }
        configuration.isDTLSClient = dtlsRole == .client
        if configuration.localInitiation != nil { configuration.peerInitiation = application.sctpInitiation }
        return configuration
    }

    private func begin(answer: SDPAnswer, local: ICECredentials, ssrc: UInt32, offered: SCTPAssociation.Configuration?,
                       wantsIPv4: Bool, now: Instant) {
        guard phase == .signaling else { return }
        let candidates = answer.candidates
            .filter { $0.transport.lowercased() == "udp" && $0.component == 1 }
            .compactMap(\.peerAddress)
            .filter { $0.ip.isIPv4 == wantsIPv4 }
        guard !candidates.isEmpty else { return fail("answer has no UDP candidate of our address family", now: now) }
        guard let fingerprint = DTLSFingerprint(algorithm: answer.fingerprint.algorithm, hex: answer.fingerprint.value) else {
            return fail("answer fingerprint unsupported: \(answer.fingerprint.algorithm)", now: now)
        }
        let dtlsRole: DTLSRole = answer.setup == .active ? .server : .client
        let dataChannels = Self.answeredDataChannels(offered: offered, answer: answer, dtlsRole: dtlsRole)
        do {
            connection = try PeerConnection(
                configuration: .init(
                    localICE: local,
                    ice: .controlling(
                        remote: ICECredentials(ufrag: answer.iceUfrag, password: answer.icePassword),
                        candidates: candidates, tieBreaker: .random(in: .min ... .max)),
                    certificate: settings.certificate, remoteFingerprint: fingerprint,
                    dtlsRole: dtlsRole,
                    audioPayloadType: answer.audio.opusPayloadType, localSSRC: ssrc, cname: "loadgen-\(index)",
                    dataChannels: dataChannels,
                    embedsDTLSInSTUN: settings.sped && !SPEDICEOption.accepted(from: answer.iceOptions).isEmpty),
                now: now)
        } catch {
            return fail("DTLS setup failed: \(error)", now: now)
        }
        phase = .connecting
        setupDeadline = (startedAt ?? now) + settings.setupTimeout
        drive(now: now)
    }

    // MARK: Orchestrator controls (run on the loop)

    /// Stops sending audio; echoes keep being counted while they drain.
    func stopAudio() {
        guard phase == .media else { return }
        phase = .stopped
        framesSentAtStop = framesSent
    }

    /// Marks the call as ending before its DELETE, so the server's BYE is not a failure.
    func beginHangUp() {
        guard phase < .ending else { return }
        phase = .ending
    }

    /// Drops the call without a word: nothing more is sent or handled, and the orchestrator
    /// closes the socket (`HangUpStyle.vanish`).
    func vanish() {
        phase = .ended
        setupDeadline = nil
        connection = nil
    }

    /// Closes the connection (RTCP BYE and DTLS close_notify go out); the driver then closes
    /// the socket.
    func close(now: Instant) {
        phase = .ended
        setupDeadline = nil
        connection?.close(now: now)
        drive(now: now)
    }

    func recordFailure(_ reason: String) {
        if failure == nil { failure = reason }
    }

    // MARK: DatagramEndpoint

    var maxTransmitLength: Int { 2_048 }

    var isFinished: Bool {
        connection?.isClosed ?? (phase == .ended)
    }

    func handle(_ datagram: UnsafeRawBufferPointer, from source: PeerAddress, now: Instant) {
        guard let connection else { return }
        if case .dropped(let reason) = connection.handle(Array(datagram), from: source, now: now) {
            drops[reason.rawValue, default: 0] += 1
        }
        drive(now: now)
    }

    func handleTimeout(now: Instant) {
        if phase == .connecting, let deadline = setupDeadline, now >= deadline {
            let stage = iceConnectedAt == nil ? "ICE" : "DTLS"
            fail("setup timed out in \(stage) after \(settings.setupTimeout)", now: now)
        }
        connection?.handleTimeout(now: now)
        drive(now: now)
    }

    func pollTransmit(into buffer: UnsafeMutableRawBufferPointer) -> OutgoingDatagram? {
        while let transmit = connection?.pollTransmit() {
            guard transmit.payload.count <= buffer.count else { continue }
            transmit.payload.withUnsafeBytes { buffer.copyMemory(from: $0) }
            return OutgoingDatagram(destination: transmit.destination, length: transmit.payload.count)
        }
        return nil
    }

    func nextDeadline() -> Instant? {
        guard let connection else { return nil }
        let audioDeadline = phase == .media && tone != nil && connection.isMediaReady ? nextAudioAt : nil
        return connection.nextDeadline()
            .earliest(audioDeadline)
            .earliest(phase == .connecting ? setupDeadline : nil)
    }

    // MARK: Driving

    private func drive(now: Instant) {
        guard let connection else { return }
        var progressed = true
        while progressed {
            progressed = false
            while let event = connection.pollEvent() {
                progressed = true
                handle(event, now: now)
            }
            sendDueAudio(now: now)
        }
    }

    private func handle(_ event: PeerConnection.Event, now: Instant) {
        switch event {
        case .iceConnected:
            iceConnectedAt = now
        case .dtlsConnected:
            dtlsConnectedAt = now
            guard phase == .connecting else { return }
            phase = .media
            if tone != nil {
                audioStart = now
                nextAudioAt = now
            }
        case .audio(let audio):
            if conversation != nil {
                echoesReceived += 1
                conversation?.audioReceived(now: now)
            } else {
                receiveEcho(audio, now: now)
            }
        case .dataChannel(let event):
            handle(event, now: now)
        case .dataChannelDropped, .telephoneEvent:
            break
        case .closed(let reason):
            if phase < .ending { fail("connection closed: \(reason.rawValue)", now: now) }
        }
    }

    /// The agent's `oai-events` channel: opened once SCTP is up (RFC 8832), and each
    /// `response.done` counted.
    private func handle(_ event: SCTPAssociation.Event, now: Instant) {
        switch event {
        case .connected:
            sctpSetup = connection?.configuration.dataChannels?.peerInitiation != nil ? "snap" : "handshake"
            _ = try? connection?.openDataChannel(label: "oai-events", now: now)
        case .channelOpened(let info) where info.label == "oai-events":
            eventsChannelOpenedAt = now
        case .message(_, .text(let text)):
            let fields = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            if fields?["type"] as? String == "response.done" { responsesDone += 1 }
        default:
            break
        }
    }

    private func receiveEcho(_ audio: PeerConnection.ReceivedAudio, now: Instant) {
        echoesReceived += 1
        if let from = echoCountingFrom {
            if now > from { echoesCounted += 1 }
        } else if let firstSendAt {
            firstEchoAt = now
            framesSentAtFirstEcho = framesSent
            echoCountingFrom = now + (now - firstSendAt)
        }
        if let decoder = echo?.decoder, let samples = try? decoder.decode(audio.payload) {
            echo?.samples.append(samples)
        }
    }

    private func sendDueAudio(now: Instant) {
        guard phase == .media, let tone, let connection, connection.isMediaReady,
              let start = audioStart, var due = nextAudioAt else { return }
        // After a stall, skip ahead rather than burst (the media clock still advances).
        if now - due > .milliseconds(200) {
            due = now
            paceResyncs += 1
        }
        while due <= now {
            let payload: [UInt8]
            let speech = conversation?.willSend(frame: framesSent, now: now) ?? true
            do {
                payload = try tone.nextFrame(speech: speech)
            } catch {
                return fail("Opus encode failed: \(error)", now: now)
            }
            let ticks = (due - start).nanosecondsRounded * 48 / 1_000_000
            // A talkspurt starts with the marker bit (RFC 3551 §4.1): the first frame and each turn's first.
            let marker = framesSent == 0 || (conversation != nil && speech && !lastFrameWasSpeech)
            lastFrameWasSpeech = speech
            connection.sendAudio(payload, mediaTime: UInt32(truncatingIfNeeded: ticks), marker: marker, now: now)
            if firstSendAt == nil { firstSendAt = now }
            framesSent += 1
            due = due + .milliseconds(20) + (framesSent == 1 ? sendPhaseOffset : .zero)
        }
        nextAudioAt = due
    }

    /// Where in the 20 ms frame this call sends after its first frame (which goes out the
    /// moment DTLS is up, for the first-audio time): call i at frac(i·φ)·20 ms, a sequence that
    /// spreads any number of calls evenly over the frame. Calls set up at a steady ramp would
    /// otherwise send in phase clusters that hand the server bursts; independent clients do not.
    private var sendPhaseOffset: Duration {
        let goldenRatioFraction = 0.618_033_988_749_895
        let fraction = (Double(index) * goldenRatioFraction).truncatingRemainder(dividingBy: 1)
        return .microseconds(Int64(fraction * 20_000))
    }

    private func fail(_ reason: String, now: Instant) {
        recordFailure(reason)
        phase = .ended
        setupDeadline = nil
        if let connection, !connection.isClosed {
            connection.close(now: now)
        }
    }

    // MARK: Results

    /// What this call measured, taken after the drain and before hanging up.
    func result() -> CallResult {
        var result = CallResult(index: index, frequency: frequency)
        result.failure = failure
        if let startedAt {
            result.signaling = answeredAt.map { $0 - startedAt }
            result.ice = iceConnectedAt.map { $0 - startedAt }
            result.dtls = dtlsConnectedAt.map { $0 - startedAt }
            result.firstAudio = firstEchoAt.map { $0 - startedAt }
            result.eventsChannel = eventsChannelOpenedAt.map { $0 - startedAt }
        }
        result.packetsSent = framesSent
        result.packetsReceived = echoesReceived
        result.paceResyncs = paceResyncs
        result.drops = drops
        result.eventsChannelOpened = eventsChannelOpenedAt != nil
        result.sctpSetup = sctpSetup
        result.responsesDone = responsesDone
        if let conversation {
            result.turnsTaken = conversation.turnsTaken
            result.turnsAnswered = conversation.turnsAnswered
            result.answerPackets = conversation.answerPackets
            result.answerLatencies = conversation.answerLatencies
            if conversation.turnsTaken > 0, conversation.turnsAnswered == 0 {
                result.failure = result.failure ?? "the agent answered none of \(conversation.turnsTaken) turns"
            }
        } else if tone != nil, dtlsConnectedAt != nil {
            if firstEchoAt != nil {
                let sentAfterFirstEcho = (framesSentAtStop ?? framesSent) - framesSentAtFirstEcho
                result.echoExpected = sentAfterFirstEcho
                result.echoReceived = min(echoesCounted, sentAfterFirstEcho)
            } else if framesSent > 0 {
                result.failure = result.failure ?? "no echo came back for \(framesSent) packets sent"
            }
        }
        if let statistics = connection?.statistics {
            result.roundTripTime = statistics.roundTripTime
            if statistics.rtpPacketsSent > 0 {
                result.upstreamLostRTCP = Int64(statistics.remoteCumulativeLost)
                result.upstreamJitterMilliseconds = Double(statistics.remoteJitterSamples) / 48
            }
            if var receive = statistics.receive {
                let block = receive.makeReportBlock(lastSenderReport: 0, delaySinceLastSenderReport: 0)
                result.downstreamLost = receive.cumulativeLost
                result.downstreamExpected = Int64(receive.packetsReceived) + receive.cumulativeLost
                result.downstreamJitterMilliseconds = Double(block.jitter) / 48
            }
        }
        if settings.events, dtlsConnectedAt != nil, eventsChannelOpenedAt == nil {
            result.failure = result.failure ?? "oai-events never opened"
        }
        if let echo, tone != nil, dtlsConnectedAt != nil {
            let check = ToneCheck(samples: echo.samples.ordered(), frequency: frequency)
            result.toneCheck = check
            if !check.passed { result.failure = result.failure ?? "echo check failed: \(check.summary)" }
        }
        return result
    }
}

/// The last `capacity` samples appended.
struct SampleRing {
    private var storage: [Int16]
    private var next = 0
    private var filled = false

    init(capacity: Int) {
        storage = Array(repeating: 0, count: capacity)
    }

    mutating func append(_ samples: [Int16]) {
        for sample in samples {
            storage[next] = sample
            next += 1
            if next == storage.count {
                next = 0
                filled = true
            }
        }
    }

    func ordered() -> [Int16] {
        filled ? Array(storage[next...] + storage[..<next]) : Array(storage[..<next])
    }
}
