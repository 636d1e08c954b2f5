import ParleyAgent
import ParleyEndpoint
import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A `TransceiverEndpoint` and Parley client peers (ICE controlling, as the load generator
/// builds them) on the shared `SimulatedNetwork`, with injected time. A client reaches the
/// endpoint directly, or through a relay played by `RelayHost`: one public address in front
/// of relay replicas (`relayA`, `relayB`) that encapsulate toward the endpoint.
final class EndpointHarness {
    /// The endpoint's socket: what direct answers name.
    static let endpointAddress = PeerAddress("192.0.2.10:3478")!
    /// The relay's public address, the one relayed clients send to.
    static let relayPublic = PeerAddress("198.51.100.1:3478")!
    /// Two relay replicas' internal addresses, both in the allowed relay network.
    static let relayA = PeerAddress("198.18.0.1:3480")!
    static let relayB = PeerAddress("198.18.0.2:3480")!
    static let relayNetwork = IPNetwork("198.18.0.0/15")!

    let network: SimulatedNetwork
    let endpoint: EndpointHost
    let relay: RelayHost
    private(set) var clients: [ClientHost] = []
    private var random: SeededGenerator
    private let clientCertificate: DTLSCertificate

    init(seed: UInt64 = 1, conditions: LinkConditions = .perfect, recentlyEndedLimit: Int = 4_096,
         playoutCapacity: Int = PacedAudioOutput.defaultCapacity) throws {
        network = SimulatedNetwork(seed: seed, defaultConditions: conditions)
        random = SeededGenerator(seed: seed &+ 1)
        clientCertificate = try DTLSCertificate.generateSelfSigned(commonName: "client")
        var configuration = TransceiverEndpoint.Configuration(
            certificate: try DTLSCertificate.generateSelfSigned(), tokenAddress: Self.endpointAddress,
            routingKeyring: .development(), candidates: [Self.endpointAddress],
            relayNetworks: [Self.relayNetwork], recentlyEndedLimit: recentlyEndedLimit)
        configuration.playoutCapacity = playoutCapacity
        endpoint = EndpointHost(
            TransceiverEndpoint(configuration: configuration, random: SeededGenerator(seed: seed &+ 2)),
            at: Self.endpointAddress)
        relay = RelayHost(public: Self.relayPublic, replicas: [Self.relayA, Self.relayB], endpoint: Self.endpointAddress)
        network.add(endpoint)
        network.add(relay)
    }

    var now: Instant { network.now }

    /// Signals a call for a client at `address` with the echo backend or `backend` (through
    /// the relay when `relayed`, or through the relay whose public address is `relay`), and
    /// makes the client's connection from the answer; with `events`, the client offers a data
    /// channel and opens `oai-events` once the association is up, and with `snap` as well its
    /// INIT in `a=sctp-init`, taking the answer's as the load generator does; with `sped`, it
    /// offers SPED and embeds its handshake in the checks when the answer accepts.
    @discardableResult
    func call(from address: PeerAddress, relayed: Bool = false, via relay: PeerAddress? = nil,
              tone: Int? = nil, events: Bool = false, snap: Bool = false, sped: Bool = false, backend: (any CallBackend)? = nil,
              maxDuration: Duration? = nil) throws -> ClientHost {
        let ice = ICECredentials.random(using: &random)
        var dataChannels = SCTPAssociation.Configuration(isDTLSClient: false)
        if snap { dataChannels.localInitiation = dataChannels.makeInitiation(using: &random) }
        let offer = try SDPOffer(parsing: SDPOfferBuilder.offer(with: SDPOfferParameters(
            iceUfrag: ice.ufrag, icePassword: ice.password,
            fingerprint: DTLSFingerprintLine(algorithm: clientCertificate.fingerprint.algorithm, digest: clientCertificate.fingerprint.bytes),
            sessionID: 7, audioSSRC: 1_234, cname: "client", offerApplication: events,
            sctpInitiation: dataChannels.localInitiation,
            iceOptions: sped ? ["trickle", SPEDICEOption.draft] : [])))
        let answer = try endpoint.endpoint.createCall(offer: offer, maxDuration: maxDuration, now: now) { _ in backend ?? EchoBackend() }
        let sdp = try SDPAnswer(parsing: answer.sdp)
        dataChannels.isDTLSClient = sdp.setup != .active
        if snap { dataChannels.peerInitiation = sdp.application?.sctpInitiation }
        let connection = try PeerConnection(
            configuration: .init(
                localICE: ice,
                ice: .controlling(
                    remote: ICECredentials(ufrag: sdp.iceUfrag, password: sdp.icePassword),
                    // Behind a relay the answer would name its public address.
                    candidates: relay.map { [$0] } ?? (relayed ? [Self.relayPublic] : sdp.candidates.compactMap(\.peerAddress)),
                    tieBreaker: random.next()),
                certificate: clientCertificate,
                remoteFingerprint: DTLSFingerprint(algorithm: sdp.fingerprint.algorithm, hex: sdp.fingerprint.value)!,
                dtlsRole: sdp.setup == .active ? .server : .client,
                audioPayloadType: sdp.audio.opusPayloadType, localSSRC: 4_321, cname: "client",
                dataChannels: events ? dataChannels : nil,
                embedsDTLSInSTUN: sped && !SPEDICEOption.accepted(from: sdp.iceOptions).isEmpty),
            now: now, using: &random)
        let client = try ClientHost(connection, at: address, answer: answer, tone: tone)
        clients.append(client)
        network.add(client)
        network.settle()
        return client
    }

    /// Hands the endpoint one datagram from `source` now, as if it had just arrived.
    func inject(_ bytes: [UInt8], from source: PeerAddress) {
        endpoint.handle(bytes, from: source, to: Self.endpointAddress, now: now)
        network.settle()
    }

    @discardableResult
    func run(until condition: () -> Bool, limit: Duration) -> Bool {
        network.run(until: condition, limit: limit)
    }

    /// Moves virtual time to `instant`, serving every deadline on the way.
    func advance(to instant: Instant) {
        if instant > now { network.advance(by: instant - now) }
    }
}

/// The endpoint on the network, recording what it sent and the events it raised.
final class EndpointHost: SimulatedHost {
    /// What the endpoint sent: where to and the bytes (relay header included).
    struct Sent {
        var destination: PeerAddress
        var bytes: [UInt8]
    }

    let endpoint: TransceiverEndpoint
    let address: PeerAddress
    private(set) var events: [TransceiverEndpoint.Event] = []
    private(set) var sent: [Sent] = []
    private var buffer = [UInt8](repeating: 0, count: TransceiverEndpoint.maxTransmitLength)

    init(_ endpoint: TransceiverEndpoint, at address: PeerAddress) {
        self.endpoint = endpoint
        self.address = address
    }

    var addresses: [PeerAddress] { [address] }

    var drops: [String] {
        events.compactMap { if case .dropped(let reason) = $0 { reason.rawValue } else { nil } }
    }

    var endedCalls: [(SessionID, String)] {
        events.compactMap { if case .callEnded(let id, let reason) = $0 { (id, reason) } else { nil } }
    }

    func handle(_ payload: [UInt8], from source: PeerAddress, to destination: PeerAddress, now: Instant) {
        endpoint.handle(payload, from: source, now: now)
    }

    func handleTimeout(now: Instant) {
        endpoint.handleTimeout(now: now)
    }

    func pollTransmit(now: Instant) -> SimulatedTransmit? {
        guard let datagram = buffer.withUnsafeMutableBytes({ endpoint.pollTransmit(into: $0) }) else { return nil }
        let bytes = Array(buffer[..<datagram.length])
        sent.append(Sent(destination: datagram.destination, bytes: bytes))
        return SimulatedTransmit(source: address, destination: datagram.destination, payload: bytes)
    }

    func nextDeadline() -> Instant? {
        endpoint.nextDeadline()
    }

    func pollEvents() {
        while let event = endpoint.pollEvent() { events.append(event) }
    }
}

/// A relay as the endpoint sees one: clients send to its public address; a replica wraps
/// each datagram with the client's address and sends it from its internal address to the
/// endpoint; what comes back is unwrapped and leaves from the public address. `current`
/// picks the replica (a replica replaced behind a load balancer keeps the public address).
final class RelayHost: SimulatedHost {
    let publicAddress: PeerAddress
    let replicas: [PeerAddress]
    let endpoint: PeerAddress
    var current: PeerAddress
    private var queue = FIFO<SimulatedTransmit>()

    init(public publicAddress: PeerAddress, replicas: [PeerAddress], endpoint: PeerAddress) {
        self.publicAddress = publicAddress
        self.replicas = replicas
        self.endpoint = endpoint
        current = replicas[0]
    }

    var addresses: [PeerAddress] { [publicAddress] + replicas }

    func handle(_ payload: [UInt8], from source: PeerAddress, to destination: PeerAddress, now: Instant) {
        if destination == publicAddress {
            queue.append(SimulatedTransmit(source: current, destination: endpoint,
                                           payload: RelayEncapsulation.encapsulate(payload, client: source)))
        } else if let (client, _, inner) = RelayEncapsulation.parse(payload) {
            queue.append(SimulatedTransmit(source: publicAddress, destination: client, payload: Array(inner)))
        }
    }

    func handleTimeout(now: Instant) {}

    func pollTransmit(now: Instant) -> SimulatedTransmit? {
        queue.popFirst()
    }

    func nextDeadline() -> Instant? { nil }
}

/// Parley's client role: a `PeerConnection` that sends a tone every 20 ms once SRTP is up
/// and decodes what comes back.
final class ClientHost: SimulatedHost {
    let connection: PeerConnection
    let address: PeerAddress
    let answer: CallAnswer
    private(set) var events: [PeerConnection.Event] = []
    /// When each of `events` was raised.
    private(set) var eventInstants: [Instant] = []
    private(set) var heard: [Int16] = []
    /// When each audio packet arrived.
    private(set) var audioArrivals: [Instant] = []
    /// Events received on `oai-events`, with their arrival.
    private(set) var serverEvents: [(at: Instant, event: RealtimeEvent)] = []
    private var eventsChannel: UInt16?
    private var now = Instant(nanoseconds: 0)
    private let toneFrequency: Int?
    private var framesSent = 0
    private var nextFrameAt: Instant?
    private let encoder: OpusEncoder
    private let decoder: OpusDecoder

    init(_ connection: PeerConnection, at address: PeerAddress, answer: CallAnswer, tone: Int?) throws {
        self.connection = connection
        self.address = address
        self.answer = answer
        toneFrequency = tone
        encoder = try OpusEncoder(sampleRate: 48_000, channels: 1)
        decoder = try OpusDecoder(sampleRate: 48_000, channels: 1)
    }

    var addresses: [PeerAddress] { [address] }
    var isConnected: Bool { events.contains { if case .dtlsConnected = $0 { true } else { false } } }
    var audioReceived: Int { events.filter { if case .audio = $0 { true } else { false } }.count }

    // Events are taken as they happen, so what the client does about them (opening
    // `oai-events` once SCTP is up) leaves with this input's transmits, as a real client's would.
    func handle(_ payload: [UInt8], from source: PeerAddress, to destination: PeerAddress, now: Instant) {
        self.now = now
        connection.handle(payload, from: source, now: now)
        pollEvents()
        sendTone(now: now)
    }

    func handleTimeout(now: Instant) {
        self.now = now
        connection.handleTimeout(now: now)
        pollEvents()
        sendTone(now: now)
    }

    /// Sends a client event on `oai-events` (open by then).
    func send(_ event: RealtimeEvent, now: Instant) throws {
        let channel = try #require(eventsChannel)
        try connection.sendDataChannelMessage(.text(String(decoding: event.encodedJSON(), as: UTF8.self)), on: channel, now: now)
    }

    var hasEventsChannel: Bool { eventsChannel != nil }

    func events(ofType type: String) -> [(at: Instant, event: RealtimeEvent)] {
        serverEvents.filter { $0.event.type == type }
    }

    func pollTransmit(now: Instant) -> SimulatedTransmit? {
        connection.pollTransmit().map { SimulatedTransmit(source: address, destination: $0.destination, payload: $0.payload) }
    }

    func nextDeadline() -> Instant? {
        let toneDue = toneFrequency != nil && connection.isMediaReady ? nextFrameAt : nil
        return connection.nextDeadline().earliest(toneDue)
    }

    func pollEvents() {
        while let event = connection.pollEvent() {
            if case .dtlsConnected = event, nextFrameAt == nil { nextFrameAt = .init(nanoseconds: 0) }
            if case .audio(let audio) = event, let samples = try? decoder.decode(audio.payload) {
                heard += samples
                audioArrivals.append(now)
            }
            switch event {
            case .dataChannel(.connected):
                _ = try? connection.openDataChannel(label: "oai-events", now: now)
            case .dataChannel(.channelOpened(let info)) where info.label == "oai-events":
                eventsChannel = info.streamID
            case .dataChannel(.message(_, .text(let text))):
                if let parsed = try? RealtimeEvent(json: Array(text.utf8)) { serverEvents.append((now, parsed)) }
            default:
                break
            }
            events.append(event)
            eventInstants.append(now)
        }
    }

    /// When the first event that `matches` was raised.
    func instant(ofFirst matches: (PeerConnection.Event) -> Bool) -> Instant? {
        events.firstIndex(where: matches).map { eventInstants[$0] }
    }

    private func sendTone(now: Instant) {
        guard let frequency = toneFrequency, connection.isMediaReady, let due = nextFrameAt, due <= now else { return }
        let samples = (0..<960).map { index -> Int16 in
            let sample = framesSent * 960 + index
            return Int16(8_000 * sin(2 * Double.pi * Double(frequency) * Double(sample) / 48_000))
        }
        connection.sendAudio(try! encoder.encode(samples), mediaTime: UInt32(framesSent * 960), marker: framesSent == 0, now: now)
        framesSent += 1
        // The first frame, or one long overdue, restarts the 20 ms schedule from now.
        nextFrameAt = (now - due > .milliseconds(200) ? now : due) + .milliseconds(20)
    }
}

/// Power of one frequency in `samples` (the Goertzel filter), per sample.
func tonePower(_ samples: ArraySlice<Int16>, frequency: Double, sampleRate: Double = 48_000) -> Double {
    let coefficient = 2 * cos(2 * Double.pi * frequency / sampleRate)
    var previous = 0.0
    var beforePrevious = 0.0
    for sample in samples {
        let current = Double(sample) + coefficient * previous - beforePrevious
        beforePrevious = previous
        previous = current
    }
    return (previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious) / Double(samples.count)
}
