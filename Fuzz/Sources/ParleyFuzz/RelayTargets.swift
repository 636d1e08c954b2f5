import ParleyRelay
import ParleyRouting
import ParleyWire

/// A deterministic generator (SplitMix64), so every input replays exactly.
struct FuzzRandom: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}

/// Addresses and first packets the relay targets share.
enum RelayFixtures {
    static let keyring = RoutingKeyring.development()
    static let transceiver = PeerAddress("10.0.1.1:4000")!
    static let peerRelay = PeerAddress("10.9.0.1:3479")!
    static let stranger = PeerAddress("10.0.7.7:4000")!
    static let clients = ["198.51.100.7:50000", "198.51.100.7:50001", "198.51.100.8:40000", "[2001:db8::7]:50000"]
        .map { PeerAddress($0)! }
    static let configuration = RelayConfiguration(
        publicAddress: PeerAddress("203.0.113.1:3478")!, internalAddress: PeerAddress("10.0.0.1:0")!,
        maxTCPConnectionsPerWorker: 8, maxTCPConnectionsPerSource: 3, tcpFirstFrameTimeout: .seconds(2),
        tcpSendQueueBytes: 4_096, workers: 1, cluster: 0, peerClusters: [1: peerRelay],
        flowIdleTimeout: .seconds(5), maxFlowsPerWorker: 16, newFlowsPerSecondPerSource: 5, newFlowBurstPerSource: 4,
        lookupsPerSecondPerWorker: 10, transceiverNetworks: [IPNetwork("10.0.0.0/8")!])

    /// Binding requests whose USERNAME starts with a token for this cluster's transceiver,
    /// for cluster 1 (over the backbone), for an unknown cluster and for an IPv6 transceiver.
    static let bindingRequests: [[UInt8]] = {
        var random = FuzzRandom(state: 7)
        let tokens = [
            RoutingToken.issue(transceiver: transceiver, cluster: 0, keyring: keyring, using: &random),
            RoutingToken.issue(transceiver: transceiver, cluster: 1, keyring: keyring, using: &random),
            RoutingToken.issue(transceiver: transceiver, cluster: 9, keyring: keyring, using: &random),
            RoutingToken.issue(transceiver: PeerAddress("[fd00::1]:4000")!, cluster: 0, keyring: keyring, using: &random),
        ]
        return tokens.map { bindingRequest(username: $0 + ":cli1", random: &random) }
    }()

    static func bindingRequest(username: String, random: inout FuzzRandom) -> [UInt8] {
        STUNMessage(class: .request, transactionID: .random(using: &random),
                    attributes: [.username(username), .priority(1_853_824_767), .iceControlling(random.next())])
            .encoded(integrityKey: Array("client-password-0123456789".utf8), fingerprint: true)
    }

    /// A first packet: a fuzzer-chosen binding request, perhaps with one byte changed.
    static func firstPacket(_ reader: inout FuzzInput) -> [UInt8] {
        var packet = bindingRequests[reader.choose(bindingRequests.count)]
        let position = Int(reader.byte())
        if position < packet.count { packet[position] ^= reader.byte() }
        return packet
    }
}

/// A relay worker's core (docs/relay.md) fed a program of datagrams on its three sockets
/// (client, internal, backbone), flow-store restores and time: decisions stay within the
/// datagram and the tables within their caps.
enum RelayUDPTarget {
    static let target = FuzzTarget(name: "relay-udp", run: run, seeds: Seeds.relayUDP)

    static func run(_ input: [UInt8]) {
        var reader = FuzzInput(input)
        var now = Instant(nanoseconds: 1_000_000_000)
        var core = RelayForwardingCore(configuration: RelayFixtures.configuration, keyring: RelayFixtures.keyring,
                                       usesFlowStore: reader.bool(), now: now)
        var operations = 0
        while !reader.isEmpty, operations < 256 {
            operations += 1
            let client = RelayFixtures.clients[reader.choose(RelayFixtures.clients.count)]
            let sources = [RelayFixtures.transceiver, RelayFixtures.peerRelay, RelayFixtures.stranger]
            let datagram: [UInt8]
            let socket: RelaySocketRole
            var source = client
            switch reader.choose(7) {
            case 0:
                datagram = reader.chunk()
                socket = .publicPort
            case 1:
                datagram = RelayFixtures.firstPacket(&reader)
                socket = .publicPort
            case 2:
                datagram = RelayEncapsulation.encapsulate(reader.chunk(), client: client, transport: reader.bool() ? .tcp : .udp)
                source = sources[reader.choose(sources.count)]
                socket = reader.bool() ? .internalPort : .backbonePort
            case 3:
                datagram = RelayEncapsulation.encapsulate(RelayFixtures.firstPacket(&reader), client: client,
                                                          transport: reader.bool() ? .tcp : .udp)
                source = sources[reader.choose(sources.count)]
                socket = .backbonePort
            case 4:
                datagram = reader.chunk()
                source = sources[reader.choose(sources.count)]
                socket = reader.bool() ? .internalPort : .backbonePort
            case 5:
                now = now + .milliseconds(Int64(reader.uint16()))
                core.handleTimeout(now: now)
                while let request = core.pollFlowStoreRequest() {
                    if case .lookup(let client) = request, reader.bool() {
                        core.handleRestored(client: client, nextHop: sources[reader.choose(sources.count)], now: now)
                    }
                }
                continue
            default:
                core.handleRestored(client: client, nextHop: sources[reader.choose(sources.count)], now: now)
                continue
            }
            let action = datagram.withUnsafeBytes { core.handle($0, from: source, on: socket, now: now) }
            if case .forward(let forward) = action, case .stripped(let headerLength) = forward.framing {
                require(headerLength <= datagram.count, "a header of \(headerLength) bytes stripped from \(datagram.count)")
            }
            require(core.flowCount <= 16 + 8, "\(core.flowCount) flows with caps of 16 and 8")
        }
    }
}

/// A relay TCP worker's core (RFC 6544, RFC 4571) fed a program of accepts, bytes in pieces,
/// replies, closes and time; what it transmits fits the buffer and connections stay capped.
enum RelayTCPTarget {
    static let target = FuzzTarget(name: "relay-tcp", run: run, seeds: Seeds.relayTCP)

    static func run(_ input: [UInt8]) {
        var reader = FuzzInput(input)
        var now = Instant(nanoseconds: 1_000_000_000)
        var core = RelayTCPCore(configuration: RelayFixtures.configuration, keyring: RelayFixtures.keyring, now: now)
        var connections: [(RelayTCPConnectionID, PeerAddress)] = []
        var buffer = [UInt8](repeating: 0, count: 2_048)
        var operations = 0
        while !reader.isEmpty, operations < 256 {
            operations += 1
            switch reader.choose(6) {
            case 0:
                let client = RelayFixtures.clients[reader.choose(RelayFixtures.clients.count)]
                let port = client.port &+ UInt16(reader.byte())
                let address = PeerAddress(ip: client.ip, port: port)
                if let id = core.handleAccept(client: address, now: now) { connections.append((id, address)) }
            case 1, 2:
                guard !connections.isEmpty else { continue }
                let (id, _) = connections[reader.choose(connections.count)]
                let bytes = reader.bool() ? RFC4571Framing.frame(RelayFixtures.firstPacket(&reader)) : reader.chunk()
                var offset = 0
                while offset < bytes.count {
                    let piece = Array(bytes[offset..<min(bytes.count, offset + Int(reader.byte()) + 1)])
                    offset += piece.count
                    piece.withUnsafeBytes { core.handleReceived($0, on: id, now: now) }
                }
            case 3:
                let client = connections.isEmpty ? RelayFixtures.clients[0] : connections[reader.choose(connections.count)].1
                let reply = RelayEncapsulation.encapsulate(reader.chunk(), client: client, transport: reader.bool() ? .tcp : .udp)
                let source = reader.bool() ? RelayFixtures.transceiver : RelayFixtures.peerRelay
                let queued = Int(reader.uint16())
                let action = reply.withUnsafeBytes { core.handleReply($0, from: source, queuedBytes: { _ in queued }) }
                if case .write(_, let offset) = action { require(offset <= reply.count, "a reply offset past its datagram") }
            case 4:
                guard !connections.isEmpty else { continue }
                core.handleClosed(connections.remove(at: reader.choose(connections.count)).0)
            default:
                now = now + .milliseconds(Int64(reader.uint16()))
                core.handleTimeout(now: now)
            }
            let size = reader.bool() ? 64 : buffer.count
            while let datagram = buffer.withUnsafeMutableBytes({ core.pollTransmit(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<size])) }) {
                require(datagram.length <= size, "a transmit of \(datagram.length) bytes into \(size)")
            }
            while let closed = core.pollClose() { connections.removeAll { $0.0 == closed } }
            require(core.connectionCount <= 8, "\(core.connectionCount) connections with a cap of 8")
        }
    }
}
