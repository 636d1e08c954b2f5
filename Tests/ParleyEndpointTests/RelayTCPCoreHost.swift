import ParleyRelay
import ParleyRouting
import ParleyTestSupport
import ParleyWire

/// A relay TCP worker on the simulated network: the relay's own `RelayTCPCore` behind a
/// public TCP address and an internal one, carrying out each action as `RelayTCPWorker` does.
/// The network carries datagrams, so the TCP connection is played here: each datagram a
/// client sends to the public address is one RFC 4571 frame on that client's connection
/// (opened by its first one), and each reply the core writes is unframed again on delivery.
final class RelayTCPCoreHost: SimulatedHost {
    let publicAddress: PeerAddress
    let internalAddress: PeerAddress
    private var core: RelayTCPCore
    private var connections: [PeerAddress: RelayTCPConnectionID] = [:]
    private var clients: [RelayTCPConnectionID: PeerAddress] = [:]
    private var queue = FIFO<SimulatedTransmit>()

    init(public publicAddress: PeerAddress, internal internalAddress: PeerAddress, keyring: RoutingKeyring, now: Instant) {
        self.publicAddress = publicAddress
        self.internalAddress = internalAddress
        let configuration = RelayConfiguration(publicAddress: publicAddress, internalAddress: internalAddress,
                                               publicTCPAddress: publicAddress, workers: 1)
        core = RelayTCPCore(configuration: configuration, keyring: keyring, now: now)
    }

    var addresses: [PeerAddress] { [publicAddress, internalAddress] }
    var statistics: RelayTCPStatistics { core.statistics }

    func handle(_ payload: [UInt8], from source: PeerAddress, to destination: PeerAddress, now: Instant) {
        if destination == publicAddress {
            guard let id = connections[source] ?? core.handleAccept(client: source, now: now) else { return }
            connections[source] = id
            clients[id] = source
            RFC4571Framing.frame(payload).withUnsafeBytes { core.handleReceived($0, on: id, now: now) }
        } else {
            let action = payload.withUnsafeBytes { core.handleReply($0, from: source) { _ in 0 } }
            if case .write(let id, let offset) = action, let client = clients[id] {
                queue.append(SimulatedTransmit(source: publicAddress, destination: client, payload: Array(payload[offset...])))
            }
        }
        drain()
    }

    func handleTimeout(now: Instant) {
        core.handleTimeout(now: now)
        drain()
    }

    func pollTransmit(now: Instant) -> SimulatedTransmit? {
        queue.popFirst()
    }

    func nextDeadline() -> Instant? { core.nextDeadline() }

    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 2_048)
        while let datagram = buffer.withUnsafeMutableBytes({ core.pollTransmit(into: $0) }) {
            queue.append(SimulatedTransmit(source: internalAddress, destination: datagram.destination,
                                           payload: Array(buffer[..<datagram.length])))
        }
        while let id = core.pollClose() {
            if let client = clients.removeValue(forKey: id) { connections[client] = nil }
        }
    }
}
