import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
#if canImport(Glibc)
import Glibc
#endif


/// Parley's client role against Parley's server role, in memory, with injected time and a
/// simulated path (one-way delay, seeded loss). Nothing here touches a socket or a clock.
final class PeerPair {
    static let serverAddress = PeerAddress("192.0.2.1:3478")!
    static let clientAddress = PeerAddress("198.51.100.7:50000")!

    let server: PeerConnection
    let client: PeerConnection
    private(set) var now = Instant(nanoseconds: 1_000_000_000)
    private(set) var serverEvents: [PeerConnection.Event] = []
    private(set) var clientEvents: [PeerConnection.Event] = []
    private(set) var datagramsLost = 0
    private let start: Instant
    private let lossRate: Double
    private let oneWayDelay: Duration
    private var generator: SeededGenerator
    private var inFlight: [(deliverAt: Instant, toServer: Bool, payload: [UInt8])] = []

    init(lossRate: Double = 0, oneWayDelay: Duration = .milliseconds(10), seed: UInt64 = 1, dataChannels: Bool = false) throws {
        self.lossRate = lossRate
        self.oneWayDelay = oneWayDelay
        generator = SeededGenerator(seed: seed)
        start = now
        let serverICE = ICECredentials.random()
        let clientICE = ICECredentials.random()
        let serverCertificate = try DTLSCertificate.generateSelfSigned()
        let clientCertificate = try DTLSCertificate.generateSelfSigned()
        server = try PeerConnection(
            configuration: .init(
                localICE: serverICE, ice: .liteResponder(remoteUfrag: clientICE.ufrag),
                certificate: serverCertificate, remoteFingerprint: clientCertificate.fingerprint,
                dtlsRole: .client, audioPayloadType: 111,
                dataChannels: dataChannels ? .init(isDTLSClient: true) : nil),
            now: now)
        client = try PeerConnection(
            configuration: .init(
                localICE: clientICE,
                ice: .controlling(remote: serverICE, candidates: [Self.serverAddress], tieBreaker: 7),
                certificate: clientCertificate, remoteFingerprint: serverCertificate.fingerprint,
                dtlsRole: .server, audioPayloadType: 111,
                dataChannels: dataChannels ? .init(isDTLSClient: false) : nil),
            now: now)
    }

    var elapsed: Duration { now - start }

    /// Runs the simulation until `condition` holds or `limit` of simulated time passes.
    @discardableResult
    func run(until condition: (PeerPair) -> Bool, limit: Duration) -> Bool {
        let end = now + limit
        while now <= end {
            collect()
            if condition(self) { return true }
            guard let next = nextInstant(), next <= end else { return condition(self) }
            keepOpenSSLClockInStep(advancingTo: next)
            now = max(now, next)
            deliverDue()
            if let deadline = server.nextDeadline(), deadline <= now { server.handleTimeout(now: now) }
            if let deadline = client.nextDeadline(), deadline <= now { client.handleTimeout(now: now) }
        }
        return condition(self)
    }

    /// Advances simulated time by `duration`, delivering and timing out as it goes.
    func advance(by duration: Duration) {
        let target = now + duration
        run(until: { $0.now >= target }, limit: duration)
        now = max(now, target)
    }

    /// OpenSSL's DTLS retransmission timer reads the real clock (see `DTLSDatagramBIO`), so
    /// while a handshake is under way simulated time may not run ahead of real time.
    private func keepOpenSSLClockInStep(advancingTo next: Instant) {
        guard !(server.isMediaReady && client.isMediaReady), next > now else { return }
        let step = min(next - now, .milliseconds(50))
        usleep(UInt32(step.nanosecondsRounded / 1_000))
    }

    private func nextInstant() -> Instant? {
        inFlight.map(\.deliverAt).min()
            .earliest(server.nextDeadline())
            .earliest(client.nextDeadline())
    }

    private func collect() {
        var moved = true
        while moved {
            moved = false
            while let transmit = server.pollTransmit() {
                moved = true
                send(transmit.payload, toServer: false)
            }
            while let transmit = client.pollTransmit() {
                moved = true
                send(transmit.payload, toServer: true)
            }
            while let event = server.pollEvent() { serverEvents.append(event) }
            while let event = client.pollEvent() { clientEvents.append(event) }
        }
    }

    private func send(_ payload: [UInt8], toServer: Bool) {
        if lossRate > 0, Double.random(in: 0..<1, using: &generator) < lossRate {
            datagramsLost += 1
            return
        }
        inFlight.append((now + oneWayDelay, toServer, payload))
    }

    private func deliverDue() {
        let due = inFlight.filter { $0.deliverAt <= now }
        inFlight.removeAll { $0.deliverAt <= now }
        for datagram in due {
            if datagram.toServer {
                server.handle(datagram.payload, from: Self.clientAddress, now: now)
            } else {
                client.handle(datagram.payload, from: Self.serverAddress, now: now)
            }
        }
    }
}
