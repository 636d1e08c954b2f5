import ParleyTestSupport
import ParleyWebRTC
import ParleyWire

/// Two SCTP associations in memory, the DTLS client's against the DTLS server's, with
/// injected time and a simulated path (one-way delay, seeded loss, an optional rewrite of
/// packets in flight). Nothing here touches a socket or a clock.
final class SCTPAssociationPair {
    let client: SCTPAssociation
    let server: SCTPAssociation
    private(set) var now = Instant(nanoseconds: 1_000_000_000)
    private(set) var clientEvents: [SCTPAssociation.Event] = []
    private(set) var serverEvents: [SCTPAssociation.Event] = []
    private(set) var serverVerdicts: [SCTPAssociation.Verdict] = []
    private(set) var packetsLost = 0
    /// The last packet each side sent, to learn verification tags for injected packets.
    private(set) var lastPacketToServer: [UInt8] = []
    private(set) var lastPacketToClient: [UInt8] = []
    var lossRate: Double
    /// Rewrites a packet in flight: (bytes, toServer) -> bytes to deliver.
    var rewrite: (([UInt8], Bool) -> [UInt8])?
    private let oneWayDelay: Duration
    private var generator: SeededGenerator
    private var inFlight: [(deliverAt: Instant, toServer: Bool, payload: [UInt8])] = []

    init(lossRate: Double = 0, oneWayDelay: Duration = .milliseconds(10), seed: UInt64 = 1,
         configure: (inout SCTPAssociation.Configuration) -> Void = { _ in }) {
        self.lossRate = lossRate
        self.oneWayDelay = oneWayDelay
        generator = SeededGenerator(seed: seed)
        var clientConfiguration = SCTPAssociation.Configuration(isDTLSClient: true)
        var serverConfiguration = SCTPAssociation.Configuration(isDTLSClient: false)
        configure(&clientConfiguration)
        configure(&serverConfiguration)
        // Tags and initial TSNs come from the seed too, so every run replays exactly.
        var tags = SeededGenerator(seed: seed ^ 0x5C7B)
        client = SCTPAssociation(configuration: clientConfiguration, now: now, using: &tags)
        server = SCTPAssociation(configuration: serverConfiguration, now: now, using: &tags)
    }

    /// Both sides connect, as browsers do once DTLS is up, and the handshake completes.
    func connect(limit: Duration = .seconds(5)) -> Bool {
        client.connect(now: now)
        server.connect(now: now)
        return run(until: { $0.clientEvents.contains(.connected) && $0.serverEvents.contains(.connected) }, limit: limit)
    }

    /// Runs the simulation until `condition` holds or `limit` of simulated time passes.
    @discardableResult
    func run(until condition: (SCTPAssociationPair) -> Bool, limit: Duration) -> Bool {
        let end = now + limit
        while now <= end {
            collect()
            if condition(self) { return true }
            guard let next = nextInstant(), next <= end else { return condition(self) }
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

    /// Hands `bytes` straight to the server, as if they came out of DTLS.
    func injectToServer(_ bytes: [UInt8]) -> SCTPAssociation.Verdict {
        let verdict = server.handle(bytes, now: now)
        serverVerdicts.append(verdict)
        collect()
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

    private func nextInstant() -> Instant? {
        inFlight.map(\.deliverAt).min()
            .earliest(server.nextDeadline())
            .earliest(client.nextDeadline())
    }

    private func collect() {
        var moved = true
        while moved {
            moved = false
            while let packet = server.pollTransmit() {
                moved = true
                send(packet, toServer: false)
            }
            while let packet = client.pollTransmit() {
                moved = true
                send(packet, toServer: true)
            }
            while let event = server.pollEvent() { serverEvents.append(event) }
            while let event = client.pollEvent() { clientEvents.append(event) }
        }
    }

    private func send(_ packet: [UInt8], toServer: Bool) {
        if toServer { lastPacketToServer = packet } else { lastPacketToClient = packet }
        if lossRate > 0, Double.random(in: 0..<1, using: &generator) < lossRate {
            packetsLost += 1
            return
        }
        inFlight.append((now + oneWayDelay, toServer, rewrite?(packet, toServer) ?? packet))
    }

    private func deliverDue() {
        let due = inFlight.filter { $0.deliverAt <= now }
        inFlight.removeAll { $0.deliverAt <= now }
        for packet in due {
            if packet.toServer {
                serverVerdicts.append(server.handle(packet.payload, now: now))
            } else {
                client.handle(packet.payload, now: now)
            }
        }
    }
}
