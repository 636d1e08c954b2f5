import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

/// Certificates shared by the DTLS and SRTP tests; generating one takes a few milliseconds.
enum TestCertificates {
    static let client = try? DTLSCertificate.generateSelfSigned(commonName: "test-client")
    static let server = try? DTLSCertificate.generateSelfSigned(commonName: "test-server")
    static let stranger = try? DTLSCertificate.generateSelfSigned(commonName: "stranger")
}

/// Two DTLS endpoints on a `SimulatedNetwork`, instantaneous unless told otherwise; all time
/// is virtual, retransmissions included.
final class DTLSTestPair {
    static let clientAddress = PeerAddress("198.51.100.7:50000")!
    static let serverAddress = PeerAddress("192.0.2.1:3478")!

    let network: SimulatedNetwork
    let clientHost: DTLSHost
    let serverHost: DTLSHost

    init(
        clientCertificate: DTLSCertificate,
        serverCertificate: DTLSCertificate,
        clientExpects: DTLSFingerprint? = nil,
        serverExpects: DTLSFingerprint? = nil,
        path: LinkConditions = .perfect,
        seed: UInt64 = 1
    ) throws {
        network = SimulatedNetwork(seed: seed, defaultConditions: path)
        let client = try DTLSEndpoint(
            role: .client, certificate: clientCertificate,
            remoteFingerprint: clientExpects ?? serverCertificate.fingerprint, now: network.now
        )
        let server = try DTLSEndpoint(
            role: .server, certificate: serverCertificate,
            remoteFingerprint: serverExpects ?? clientCertificate.fingerprint, now: network.now
        )
        clientHost = DTLSHost(client, at: Self.clientAddress, peer: Self.serverAddress)
        serverHost = DTLSHost(server, at: Self.serverAddress, peer: Self.clientAddress)
        network.add(clientHost)
        network.add(serverHost)
    }

    static func make(path: LinkConditions = .perfect, seed: UInt64 = 1) throws -> DTLSTestPair {
        let client = try #require(TestCertificates.client)
        let server = try #require(TestCertificates.server)
        return try DTLSTestPair(clientCertificate: client, serverCertificate: server, path: path, seed: seed)
    }

    var client: DTLSEndpoint { clientHost.endpoint }
    var server: DTLSEndpoint { serverHost.endpoint }
    var clientEvents: [DTLSEndpoint.Event] { clientHost.events }
    var serverEvents: [DTLSEndpoint.Event] { serverHost.events }
    var now: Instant { network.now }
    var delivered: Int { network.totals.delivered }
    var dropped: Int { network.totals.lost }

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

    /// Delivers everything due now without moving the clock; true if anything happened.
    @discardableResult
    func pump() -> Bool {
        network.settle()
    }

    /// Records the events the endpoints raised outside the network (direct calls).
    func collectEvents() {
        clientHost.pollEvents()
        serverHost.pollEvents()
    }

    /// Starts the client and runs until `done` holds or `limit` of virtual time passes.
    @discardableResult
    func run(limit: Duration = .seconds(30), until done: (DTLSTestPair) -> Bool) -> Bool {
        client.start(now: now)
        return network.run(until: { done(self) }, limit: limit)
    }
}
