import ParleyTestSupport
import ParleyWebRTC
import ParleyWire

/// Parley's client role against Parley's server role on a `SimulatedNetwork`: the server an
/// ICE-lite responder and DTLS client, the client a controlling agent and DTLS server (the
/// roles swap for SPED, as Parley answers a SPED offer `passive`). Every random choice
/// (credentials, SSRCs, RTP bases, SCTP tags, path) comes from the seed.
final class PeerPair {
    static let serverAddress = PeerAddress("192.0.2.1:3478")!
    static let clientAddress = PeerAddress("198.51.100.7:50000")!

    let network: SimulatedNetwork
    let serverHost: PeerConnectionHost
    let clientHost: PeerConnectionHost

    convenience init(lossRate: Double = 0, oneWayDelay: Duration = .milliseconds(10), seed: UInt64 = 1,
                     dataChannels: Bool = false) throws {
        try self.init(path: LinkConditions(delay: oneWayDelay, loss: lossRate > 0 ? .random(lossRate) : .none),
                      seed: seed, dataChannels: dataChannels)
    }

    /// Both directions of the path under `path`. `serverEmbeds` and `clientEmbeds` turn SPED on
    /// at either end (the server then is the DTLS server, unless `serverIsDTLSClient` says
    /// otherwise), so one end can speak it to an end that does not.
    init(path: LinkConditions, seed: UInt64 = 1, dataChannels: Bool = false,
         serverEmbeds: Bool = false, clientEmbeds: Bool = false, serverIsDTLSClient: Bool? = nil) throws {
        let serverRole: DTLSRole = (serverIsDTLSClient ?? !serverEmbeds) ? .client : .server
        network = SimulatedNetwork(seed: seed, defaultConditions: path)
        var random = SeededGenerator(seed: seed ^ 0x9E11)
        let now = network.now
        let serverICE = ICECredentials.random(using: &random)
        let clientICE = ICECredentials.random(using: &random)
        let serverCertificate = try DTLSCertificate.generateSelfSigned()
        let clientCertificate = try DTLSCertificate.generateSelfSigned()
        let server = try PeerConnection(
            configuration: .init(
                localICE: serverICE, ice: .liteResponder(remoteUfrag: clientICE.ufrag),
                certificate: serverCertificate, remoteFingerprint: clientCertificate.fingerprint,
                dtlsRole: serverRole, audioPayloadType: 111, localSSRC: .random(in: 1...UInt32.max, using: &random),
                dataChannels: dataChannels ? .init(isDTLSClient: serverRole == .client) : nil, embedsDTLSInSTUN: serverEmbeds),
            now: now, using: &random)
        let client = try PeerConnection(
            configuration: .init(
                localICE: clientICE,
                ice: .controlling(remote: serverICE, candidates: [Self.serverAddress], tieBreaker: random.next()),
                certificate: clientCertificate, remoteFingerprint: serverCertificate.fingerprint,
                dtlsRole: serverRole == .client ? .server : .client, audioPayloadType: 111,
                localSSRC: .random(in: 1...UInt32.max, using: &random),
                dataChannels: dataChannels ? .init(isDTLSClient: serverRole == .server) : nil, embedsDTLSInSTUN: clientEmbeds),
            now: now, using: &random)
        serverHost = PeerConnectionHost(server, at: Self.serverAddress)
        clientHost = PeerConnectionHost(client, at: Self.clientAddress)
        network.add(serverHost)
        network.add(clientHost)
    }

    var server: PeerConnection { serverHost.connection }
    var client: PeerConnection { clientHost.connection }
    var serverEvents: [PeerConnection.Event] { serverHost.events }
    var clientEvents: [PeerConnection.Event] { clientHost.events }
    var now: Instant { network.now }
    var elapsed: Duration { network.elapsed }
    var datagramsLost: Int { network.totals.lost }

    /// Runs the network until `condition` holds or `limit` of virtual time passes.
    @discardableResult
    func run(until condition: (PeerPair) -> Bool, limit: Duration) -> Bool {
        network.run(until: { condition(self) }, limit: limit)
    }

    func advance(by duration: Duration) {
        network.advance(by: duration)
    }
}
