import ParleyTestSupport
import ParleyWebRTC
import ParleyWire

/// Two SCTP associations on a `SimulatedNetwork`, the DTLS client's against the DTLS
/// server's, as if DTLS carried their packets.
final class SCTPAssociationPair {
    static let clientAddress = PeerAddress("198.51.100.7:5000")!
    static let serverAddress = PeerAddress("192.0.2.1:5000")!

    let network: SimulatedNetwork
    let clientHost: SCTPHost
    let serverHost: SCTPHost
    /// Rewrites a packet in flight: (bytes, toServer) -> bytes to deliver.
    var rewrite: (([UInt8], Bool) -> [UInt8])? {
        didSet {
            network.rewrite = rewrite.map { rewrite in
                { datagram in rewrite(datagram.payload, datagram.destination == Self.serverAddress) }
            }
        }
    }

    /// The share of packets lost each way, changeable between runs.
    var lossRate: Double {
        didSet {
            network.setConditions(Self.path(oneWayDelay: oneWayDelay, lossRate: lossRate),
                                  between: Self.clientAddress, and: Self.serverAddress)
        }
    }
    private let oneWayDelay: Duration

    /// Which side offered when both INIT chunks went through the SDP (SNAP).
    enum SNAPOfferer {
        case dtlsClient, dtlsServer
    }

    /// With `snap`, each association is made with the other's INIT as SDP would carry it;
    /// `offererTakesAnswer` false leaves the offerer on the handshake, as one that ignored
    /// the answer's `a=sctp-init` would be.
    init(lossRate: Double = 0, oneWayDelay: Duration = .milliseconds(10), seed: UInt64 = 1, snap: SNAPOfferer? = nil,
         offererTakesAnswer: Bool = true, configure: (inout SCTPAssociation.Configuration) -> Void = { _ in }) {
        self.lossRate = lossRate
        self.oneWayDelay = oneWayDelay
        network = SimulatedNetwork(seed: seed, defaultConditions: Self.path(oneWayDelay: oneWayDelay, lossRate: lossRate))
        var clientConfiguration = SCTPAssociation.Configuration(isDTLSClient: true)
        var serverConfiguration = SCTPAssociation.Configuration(isDTLSClient: false)
        configure(&clientConfiguration)
        configure(&serverConfiguration)
        // Tags and initial TSNs come from the seed too, so every run replays exactly.
        var tags = SeededGenerator(seed: seed ^ 0x5C7B)
        let client: SCTPAssociation
        let server: SCTPAssociation
        switch snap {
        case nil:
            client = SCTPAssociation(configuration: clientConfiguration, now: network.now, using: &tags)
            server = SCTPAssociation(configuration: serverConfiguration, now: network.now, using: &tags)
        case .dtlsClient:
            (client, server) = Self.negotiateSNAP(offerer: clientConfiguration, answerer: serverConfiguration,
                                                  offererTakesAnswer: offererTakesAnswer, now: network.now, using: &tags)
        case .dtlsServer:
            (server, client) = Self.negotiateSNAP(offerer: serverConfiguration, answerer: clientConfiguration,
                                                  offererTakesAnswer: offererTakesAnswer, now: network.now, using: &tags)
        }
        clientHost = SCTPHost(client, at: Self.clientAddress, peer: Self.serverAddress)
        serverHost = SCTPHost(server, at: Self.serverAddress, peer: Self.clientAddress)
        network.add(clientHost)
        network.add(serverHost)
    }

    /// As a call does it: the offerer writes its INIT into the offer before its association
    /// exists; the answerer's association takes that INIT and its own goes into the answer;
    /// the offerer's association is made once the answer came. Each INIT travels as the bytes
    /// of `a=sctp-init`.
    private static func negotiateSNAP(
        offerer: SCTPAssociation.Configuration, answerer: SCTPAssociation.Configuration, offererTakesAnswer: Bool,
        now: Instant, using generator: inout SeededGenerator
    ) -> (offerer: SCTPAssociation, answerer: SCTPAssociation) {
        var offerer = offerer
        var answerer = answerer
        let offered = offerer.makeInitiation(using: &generator)
        offerer.localInitiation = offered
        answerer.peerInitiation = try? SCTPInitChunk(chunk: offered.chunk)
        let answering = SCTPAssociation(configuration: answerer, now: now, using: &generator)
        if offererTakesAnswer { offerer.peerInitiation = try? SCTPInitChunk(chunk: answering.initiation.chunk) }
        return (SCTPAssociation(configuration: offerer, now: now, using: &generator), answering)
    }

    private static func path(oneWayDelay: Duration, lossRate: Double) -> LinkConditions {
        LinkConditions(delay: oneWayDelay, loss: lossRate > 0 ? .random(lossRate) : .none)
    }

    var client: SCTPAssociation { clientHost.association }
    var server: SCTPAssociation { serverHost.association }
    var now: Instant { network.now }
    var clientEvents: [SCTPAssociation.Event] { clientHost.events }
    var serverEvents: [SCTPAssociation.Event] { serverHost.events }
    var serverVerdicts: [SCTPAssociation.Verdict] { serverHost.verdicts }
    var packetsLost: Int { network.totals.lost }
    var packetsSent: Int { network.totals.sent }
    /// The last packet each side sent, to learn verification tags for injected packets.
    var lastPacketToServer: [UInt8] { clientHost.lastPacketSent }
    var lastPacketToClient: [UInt8] { serverHost.lastPacketSent }

    /// Both sides connect, as browsers do once DTLS is up, and the handshake completes.
    func connect(limit: Duration = .seconds(5)) -> Bool {
        client.connect(now: now)
        server.connect(now: now)
        return run(until: { $0.clientEvents.contains(.connected) && $0.serverEvents.contains(.connected) }, limit: limit)
    }

    /// Runs the network until `condition` holds or `limit` of virtual time passes.
    @discardableResult
    func run(until condition: (SCTPAssociationPair) -> Bool, limit: Duration) -> Bool {
        network.run(until: { condition(self) }, limit: limit)
    }

    func advance(by duration: Duration) {
        network.advance(by: duration)
    }

    /// Hands `bytes` straight to the server, as if they came out of DTLS.
    func injectToServer(_ bytes: [UInt8]) -> SCTPAssociation.Verdict {
        let verdict = server.handle(bytes, now: now)
        serverHost.record(verdict)
        network.settle()
        return verdict
    }

    /// A packet with valid checksum and the tag the server expects from the client.
    func packetToServer(_ chunks: [SCTPChunk]) -> [UInt8] {
        let tag = (try? SCTPPacket.parseLeniently(lastPacketToServer).header.verificationTag) ?? 0
        return SCTPPacket(header: SCTPCommonHeader(sourcePort: 5000, destinationPort: 5000, verificationTag: tag),
                          chunks: chunks).serialized()
    }

    func clientMessages(on streamID: UInt16) -> [DataChannel.Message] {
        clientEvents.compactMap { if case .message(streamID, let message) = $0 { message } else { nil } }
    }

    func serverMessages(on streamID: UInt16) -> [DataChannel.Message] {
        serverEvents.compactMap { if case .message(streamID, let message) = $0 { message } else { nil } }
    }
}
