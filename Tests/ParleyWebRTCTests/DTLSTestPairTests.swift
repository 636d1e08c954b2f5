import ParleyWebRTC
import ParleyWire
import ParleyTestSupport
import Testing

/// Certificates shared by the DTLS and SRTP tests; generating one takes a few milliseconds.
enum TestCertificates {
    static let client = try? DTLSCertificate.generateSelfSigned(commonName: "test-client")
    static let server = try? DTLSCertificate.generateSelfSigned(commonName: "test-server")
    static let stranger = try? DTLSCertificate.generateSelfSigned(commonName: "stranger")
}


/// Which way a datagram travels between the two endpoints of a `DTLSTestPair`.
enum PathDirection {
    case clientToServer, serverToClient
}

/// Two DTLS endpoints joined by an in-memory path, driven with virtual time.
///
/// Virtual time advances only to the endpoints' deadlines. OpenSSL's own retransmission timer
/// reads the real clock (see `DTLSDatagramBIO`), so when a deadline passes in virtual time
/// before OpenSSL agrees, the driver sleeps a few real milliseconds and tries again.
final class DTLSTestPair {
    let client: DTLSEndpoint
    let server: DTLSEndpoint
    private(set) var now = Instant(nanoseconds: 1_000_000_000)
    private(set) var clientEvents: [DTLSEndpoint.Event] = []
    private(set) var serverEvents: [DTLSEndpoint.Event] = []
    private(set) var delivered = 0
    private(set) var dropped = 0
    /// Decides whether a datagram is lost: its direction, the index of the burst it was sent
    /// in (per direction) and the datagram itself.
    var drop: (PathDirection, Int, [UInt8]) -> Bool = { _, _, _ in false }
    private var bursts: [PathDirection: Int] = [:]

    init(
        clientCertificate: DTLSCertificate,
        serverCertificate: DTLSCertificate,
        clientExpects: DTLSFingerprint? = nil,
        serverExpects: DTLSFingerprint? = nil
    ) throws {
        client = try DTLSEndpoint(
            role: .client, certificate: clientCertificate,
            remoteFingerprint: clientExpects ?? serverCertificate.fingerprint, now: now
        )
        server = try DTLSEndpoint(
            role: .server, certificate: serverCertificate,
            remoteFingerprint: serverExpects ?? clientCertificate.fingerprint, now: now
        )
    }

    static func make() throws -> DTLSTestPair {
        let client = try #require(TestCertificates.client)
        let server = try #require(TestCertificates.server)
        return try DTLSTestPair(clientCertificate: client, serverCertificate: server)
    }

    var clientKeys: SRTPKeyingMaterial? { Self.keys(in: clientEvents) }
    var serverKeys: SRTPKeyingMaterial? { Self.keys(in: serverEvents) }
    var bothConnected: Bool { clientKeys != nil && serverKeys != nil }

    static func keys(in events: [DTLSEndpoint.Event]) -> SRTPKeyingMaterial? {
        for case let .connected(keys) in events { return keys }
        return nil
    }

    static func failures(in events: [DTLSEndpoint.Event]) -> [DTLSError] {
        events.compactMap { event in
            if case let .failed(error) = event { return error }
            return nil
        }
    }

    /// Moves every queued datagram across the path, applying `drop`; true if any was sent.
    @discardableResult
    func pump() -> Bool {
        var moved = false
        while true {
            let fromClient = burst(from: client, direction: .clientToServer)
            let fromServer = burst(from: server, direction: .serverToClient)
            if fromClient.isEmpty && fromServer.isEmpty { return moved }
            moved = true
            for datagram in fromClient { server.handle(datagram, now: now) }
            for datagram in fromServer { client.handle(datagram, now: now) }
            collectEvents()
        }
    }

    private func burst(from endpoint: DTLSEndpoint, direction: PathDirection) -> [[UInt8]] {
        var datagrams: [[UInt8]] = []
        while let datagram = endpoint.pollTransmit() { datagrams.append(datagram) }
        guard !datagrams.isEmpty else { return [] }
        let index = bursts[direction, default: 0]
        bursts[direction] = index + 1
        return datagrams.filter { datagram in
            if drop(direction, index, datagram) {
                dropped += 1
                return false
            }
            delivered += 1
            return true
        }
    }

    func collectEvents() {
        while let event = client.pollEvent() { clientEvents.append(event) }
        while let event = server.pollEvent() { serverEvents.append(event) }
    }

    /// Starts the client and runs until `done` holds or nothing is left to do. Bounded in
    /// iterations and in real time.
    @discardableResult
    func run(realTimeLimit: Duration = .seconds(10), until done: (DTLSTestPair) -> Bool) async -> Bool {
        let clock = ContinuousClock()
        let start = clock.now
        client.start(now: now)
        for _ in 0..<20_000 {
            pump()
            if done(self) { return true }
            guard clock.now - start < realTimeLimit else { return false }
            let deadlines = [client.nextDeadline(), server.nextDeadline()].compactMap { $0 }
            guard let next = deadlines.min() else { return false }
            now = max(now, next)
            client.handleTimeout(now: now)
            server.handleTimeout(now: now)
            collectEvents()
            if !pump() {
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        return done(self)
    }
}
