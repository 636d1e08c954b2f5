import ParleyTestSupport
import ParleyWebRTC
import ParleyWire

/// A `PeerConnection` on a simulated network, recording its events.
final class PeerConnectionHost: SimulatedHost {
    let connection: PeerConnection
    let address: PeerAddress
    private(set) var events: [PeerConnection.Event] = []

    init(_ connection: PeerConnection, at address: PeerAddress) {
        self.connection = connection
        self.address = address
    }

    var addresses: [PeerAddress] { [address] }

    func handle(_ payload: [UInt8], from source: PeerAddress, to destination: PeerAddress, now: Instant) {
        connection.handle(payload, from: source, now: now)
    }

    func handleTimeout(now: Instant) {
        connection.handleTimeout(now: now)
    }

    func pollTransmit(now: Instant) -> SimulatedTransmit? {
        connection.pollTransmit().map { SimulatedTransmit(source: address, destination: $0.destination, payload: $0.payload) }
    }

    func nextDeadline() -> Instant? {
        connection.nextDeadline()
    }

    func pollEvents() {
        while let event = connection.pollEvent() { events.append(event) }
    }
}

/// A `DTLSEndpoint` on a simulated network, sending everything to its one peer.
final class DTLSHost: SimulatedHost {
    let endpoint: DTLSEndpoint
    let address: PeerAddress
    let peer: PeerAddress
    private(set) var events: [DTLSEndpoint.Event] = []

    init(_ endpoint: DTLSEndpoint, at address: PeerAddress, peer: PeerAddress) {
        self.endpoint = endpoint
        self.address = address
        self.peer = peer
    }

    var addresses: [PeerAddress] { [address] }

    func handle(_ payload: [UInt8], from source: PeerAddress, to destination: PeerAddress, now: Instant) {
        endpoint.handle(payload, now: now)
    }

    func handleTimeout(now: Instant) {
        endpoint.handleTimeout(now: now)
    }

    func pollTransmit(now: Instant) -> SimulatedTransmit? {
        endpoint.pollTransmit().map { SimulatedTransmit(source: address, destination: peer, payload: $0) }
    }

    func nextDeadline() -> Instant? {
        endpoint.nextDeadline()
    }

    func pollEvents() {
        while let event = endpoint.pollEvent() { events.append(event) }
    }
}

/// An `SCTPAssociation` on a simulated network (standing in for the DTLS beneath it),
/// recording its events, its verdicts on what arrived and the last packet it sent.
final class SCTPHost: SimulatedHost {
    let association: SCTPAssociation
    let address: PeerAddress
    let peer: PeerAddress
    private(set) var events: [SCTPAssociation.Event] = []
    private(set) var verdicts: [SCTPAssociation.Verdict] = []
    private(set) var lastPacketSent: [UInt8] = []

    init(_ association: SCTPAssociation, at address: PeerAddress, peer: PeerAddress) {
        self.association = association
        self.address = address
        self.peer = peer
    }

    var addresses: [PeerAddress] { [address] }

    func handle(_ payload: [UInt8], from source: PeerAddress, to destination: PeerAddress, now: Instant) {
        record(association.handle(payload, now: now))
    }

    func record(_ verdict: SCTPAssociation.Verdict) {
        verdicts.append(verdict)
    }

    func handleTimeout(now: Instant) {
        association.handleTimeout(now: now)
    }

    func pollTransmit(now: Instant) -> SimulatedTransmit? {
        guard let packet = association.pollTransmit() else { return nil }
        lastPacketSent = packet
        return SimulatedTransmit(source: address, destination: peer, payload: packet)
    }

    func nextDeadline() -> Instant? {
        association.nextDeadline()
    }

    func pollEvents() {
        while let event = association.pollEvent() { events.append(event) }
    }
}
