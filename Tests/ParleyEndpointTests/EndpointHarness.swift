import ParleyEndpoint
import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
#if canImport(Glibc)
import Glibc
#endif

/// A `TransceiverEndpoint` and Parley client peers (ICE controlling, as the load generator
/// builds them) in memory, with injected time: every datagram takes `oneWayDelay`; a client
/// may reach the endpoint directly or through a relay, which the harness plays (it adds the
/// relay header toward the endpoint and strips it on the way back). Nothing here touches a
/// socket or a clock.
final class EndpointHarness {
    /// The address answers name and clients send to.
    static let endpointAddress = PeerAddress("192.0.2.10:3478")!
    /// Relays the endpoint accepts encapsulated datagrams from.
    static let relayNetwork = IPNetwork("198.18.0.0/15")!

    /// One caller: its connection, its relay (nil: direct), and what it heard.
    final class Client {
        let address: PeerAddress
        var relay: PeerAddress?
        let connection: PeerConnection
        let answer: CallAnswer
        var events: [PeerConnection.Event] = []
        /// A tone sent every 20 ms once SRTP is up, at this frequency.
        var toneFrequency: Int?
        var framesSent = 0
        var nextFrameAt: Instant?
        var heard: [Int16] = []
        fileprivate let encoder: OpusEncoder
        fileprivate let decoder: OpusDecoder

        init(address: PeerAddress, relay: PeerAddress?, connection: PeerConnection, answer: CallAnswer) throws {
            self.address = address
            self.relay = relay
            self.connection = connection
            self.answer = answer
            encoder = try OpusEncoder(sampleRate: 48_000, channels: 1)
            decoder = try OpusDecoder(sampleRate: 48_000, channels: 1)
        }

        var isConnected: Bool { events.contains { if case .dtlsConnected = $0 { true } else { false } } }
        var audioReceived: Int { events.filter { if case .audio = $0 { true } else { false } }.count }
    }

    /// What the endpoint sent: where to and the bytes (relay header included).
    struct Sent {
        var destination: PeerAddress
        var bytes: [UInt8]
    }

    let endpoint: TransceiverEndpoint
    let oneWayDelay: Duration
    private(set) var now = Instant(nanoseconds: 1_000_000_000)
    private(set) var events: [TransceiverEndpoint.Event] = []
    private(set) var sent: [Sent] = []
    private(set) var clients: [Client] = []
    private var random: SeededGenerator
    private let clientCertificate: DTLSCertificate
    /// Datagrams under way: `peer` is the source the endpoint sees, or the destination the endpoint named.
    private var inFlight: [(deliverAt: Instant, toEndpoint: Bool, peer: PeerAddress, bytes: [UInt8])] = []
    private var transmitBuffer = [UInt8](repeating: 0, count: TransceiverEndpoint.maxTransmitLength)

    init(seed: UInt64 = 1, oneWayDelay: Duration = .milliseconds(5), recentlyEndedLimit: Int = 4_096) throws {
        self.oneWayDelay = oneWayDelay
        random = SeededGenerator(seed: seed)
        clientCertificate = try DTLSCertificate.generateSelfSigned(commonName: "client")
        endpoint = TransceiverEndpoint(
            configuration: .init(
                certificate: try DTLSCertificate.generateSelfSigned(), tokenAddress: Self.endpointAddress,
                routingKeyring: .development(), candidates: [Self.endpointAddress],
                relayNetworks: [Self.relayNetwork], recentlyEndedLimit: recentlyEndedLimit),
            random: SeededGenerator(seed: seed &+ 1))
    }

    var elapsed: Duration { now - Instant(nanoseconds: 1_000_000_000) }

    /// The events of one kind the endpoint reported.
    var drops: [String] {
        events.compactMap { if case .dropped(let reason) = $0 { reason.rawValue } else { nil } }
    }

    var endedCalls: [(SessionID, String)] {
        events.compactMap { if case .callEnded(let id, let reason) = $0 { (id, reason) } else { nil } }
    }

    /// Parley's client offer, as the load generator makes it.
    func offer(ice: ICECredentials, dataChannel: Bool = false) -> SDPOffer {
        let text = SDPOfferBuilder.offer(with: SDPOfferParameters(
            iceUfrag: ice.ufrag, icePassword: ice.password,
            fingerprint: DTLSFingerprintLine(algorithm: clientCertificate.fingerprint.algorithm, digest: clientCertificate.fingerprint.bytes),
            sessionID: 7, audioSSRC: 1_234, cname: "client", offerApplication: dataChannel))
        return try! SDPOffer(parsing: text)
    }

    /// Signals a call for a client at `address` (through `relay` when given) with the echo
    /// backend, and makes the client's connection from the answer.
    @discardableResult
    func call(from address: PeerAddress, via relay: PeerAddress? = nil, tone: Int? = nil) throws -> Client {
        let ice = ICECredentials.random(using: &random)
        let answer = try endpoint.createCall(offer: offer(ice: ice), now: now) { _ in EchoBackend() }
        let sdp = try SDPAnswer(parsing: answer.sdp)
        let connection = try PeerConnection(
            configuration: .init(
                localICE: ice,
                ice: .controlling(
                    remote: ICECredentials(ufrag: sdp.iceUfrag, password: sdp.icePassword),
                    candidates: sdp.candidates.compactMap(\.peerAddress), tieBreaker: random.next()),
                certificate: clientCertificate,
                remoteFingerprint: DTLSFingerprint(algorithm: sdp.fingerprint.algorithm, hex: sdp.fingerprint.value)!,
                dtlsRole: sdp.setup == .active ? .server : .client,
                audioPayloadType: sdp.audio.opusPayloadType, localSSRC: 4_321, cname: "client"),
            now: now)
        let client = try Client(address: address, relay: relay, connection: connection, answer: answer)
        client.toneFrequency = tone
        clients.append(client)
        collect()
        return client
    }

    /// Hands the endpoint one datagram from `source` now, as if it had just arrived.
    func inject(_ bytes: [UInt8], from source: PeerAddress) {
        endpoint.handle(bytes, from: source, now: now)
        collect()
    }

    /// Moves time to `instant` with nothing delivered on the way but timeouts.
    func advanceClock(to instant: Instant) {
        now = max(now, instant)
        endpoint.handleTimeout(now: now)
        collect()
    }

    /// Runs the simulation until `condition` holds or `limit` of simulated time passes.
    @discardableResult
    func run(until condition: (EndpointHarness) -> Bool, limit: Duration) -> Bool {
        let end = now + limit
        while now <= end {
            collect()
            if condition(self) { return true }
            guard let next = nextInstant(), next <= end else { return condition(self) }
            now = max(now, next)
            deliverDue()
            if let deadline = endpoint.nextDeadline(), deadline <= now { endpoint.handleTimeout(now: now) }
            for client in clients {
                if let deadline = client.connection.nextDeadline(), deadline <= now { client.connection.handleTimeout(now: now) }
                sendTone(client)
            }
        }
        return condition(self)
    }

    private func nextInstant() -> Instant? {
        var next = inFlight.map(\.deliverAt).min().earliest(endpoint.nextDeadline())
        for client in clients {
            next = next.earliest(client.connection.nextDeadline())
            if client.connection.isMediaReady, client.toneFrequency != nil { next = next.earliest(client.nextFrameAt ?? now) }
        }
        return next
    }

    private func sendTone(_ client: Client) {
        guard let frequency = client.toneFrequency, client.connection.isMediaReady else { return }
        let due = client.nextFrameAt ?? now
        guard due <= now else { return }
        let samples = (0..<960).map { index -> Int16 in
            let sample = client.framesSent * 960 + index
            return Int16(8_000 * sin(2 * Double.pi * Double(frequency) * Double(sample) / 48_000))
        }
        let packet = try! client.encoder.encode(samples)
        client.connection.sendAudio(packet, mediaTime: UInt32(client.framesSent * 960), marker: client.framesSent == 0, now: now)
        client.framesSent += 1
        client.nextFrameAt = due + .milliseconds(20)
    }

    /// Moves every queued datagram into flight and every event into the logs.
    private func collect() {
        var moved = true
        while moved {
            moved = false
            for client in clients {
                while let transmit = client.connection.pollTransmit() {
                    moved = true
                    if let relay = client.relay {
                        inFlight.append((now + oneWayDelay, true, relay, RelayEncapsulation.encapsulate(transmit.payload, client: client.address)))
                    } else {
                        inFlight.append((now + oneWayDelay, true, client.address, transmit.payload))
                    }
                }
                while let event = client.connection.pollEvent() {
                    if case .audio(let audio) = event, let samples = try? client.decoder.decode(audio.payload) {
                        client.heard += samples
                    }
                    client.events.append(event)
                }
            }
            while let datagram = transmitBuffer.withUnsafeMutableBytes({ endpoint.pollTransmit(into: $0) }) {
                moved = true
                let bytes = Array(transmitBuffer[..<datagram.length])
                sent.append(Sent(destination: datagram.destination, bytes: bytes))
                inFlight.append((now + oneWayDelay, false, datagram.destination, bytes))
            }
            while let event = endpoint.pollEvent() { events.append(event) }
        }
    }

    private func deliverDue() {
        let due = inFlight.filter { $0.deliverAt <= now }
        inFlight.removeAll { $0.deliverAt <= now }
        for datagram in due {
            if datagram.toEndpoint {
                endpoint.handle(datagram.bytes, from: datagram.peer, now: now)
            } else if Self.relayNetwork.contains(datagram.peer.ip) {
                // The relay strips its header and sends from the public address the client knows.
                guard let (client, payload) = RelayEncapsulation.parse(datagram.bytes),
                      let receiver = clients.last(where: { $0.address == client }) else { continue }
                receiver.connection.handle(Array(payload), from: Self.endpointAddress, now: now)
            } else if let receiver = clients.last(where: { $0.address == datagram.peer }) {
                receiver.connection.handle(datagram.bytes, from: Self.endpointAddress, now: now)
            }
        }
        collect()
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
