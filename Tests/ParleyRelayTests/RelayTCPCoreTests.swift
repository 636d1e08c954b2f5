import ParleyRelay
import ParleyRouting
import ParleyTestSupport
import ParleyWire
import Testing

/// A relay TCP worker's decisions in memory (RFC 6544 passive side, RFC 4571 framing): bytes of
/// connections, replies, and time go in; datagrams toward transceivers, frames toward clients
/// and closes come out. Each hostile case names the counter that must move.
@Suite("Relay TCP core")
struct RelayTCPCoreTests {
    static let keyring = RoutingKeyring.development()
    static let start = Instant(nanoseconds: 1_000_000_000)
    static let transceiver = PeerAddress("10.0.1.1:4000")!
    static let client = PeerAddress("198.51.100.7:50000")!

    @Test func aVerifiedFirstFrameAdmitsTheConnectionAndFramesFlowBothWays() throws {
        var core = Self.core()
        let now = Self.start
        let id = try core.accept(Self.client, now: now)
        let request = bindingRequest(serverUfrag: Self.token())
        // The frame arrives a byte at a time: nothing leaves until it is complete.
        let stream = RFC4571Framing.frame(request) + RFC4571Framing.frame(mediaPacket(1))
        var sent: [TCPDatagram] = []
        for byte in stream {
            let output = core.receive([byte], on: id, now: now)
            #expect(output.closed.isEmpty)
            sent += output.datagrams
        }
        #expect(sent == [
            TCPDatagram(destination: Self.transceiver, bytes: RelayEncapsulation.encapsulate(request, client: Self.client, transport: .tcp)),
            TCPDatagram(destination: Self.transceiver, bytes: RelayEncapsulation.encapsulate(mediaPacket(1), client: Self.client, transport: .tcp)),
        ])

        // The transceiver's reply, marked TCP, is written on the connection.
        let reply = RelayEncapsulation.encapsulate(mediaPacket(2, length: 80), client: Self.client, transport: .tcp)
        #expect(core.reply(reply, from: Self.transceiver) == .write(id, payloadOffset: 8))

        let statistics = core.statistics
        #expect(statistics.accepted == 1 && statistics.admitted == 1 && statistics.framesReceived == 2)
        #expect(statistics.forwarded(.clientToTransceiver) == 2 && statistics.forwarded(.transceiverToClient) == 1)
        #expect(statistics.forwardedBytes(.transceiverToClient) == 82)
        #expect(statistics.forwardedBytes(.clientToTransceiver) == UInt64(request.count + 8 + 120 + 8))
        #expect(core.connectionCount == 1 && statistics.connections == 1)
    }

    /// A first frame that is not a Binding request with a valid token closes the connection,
    /// and nothing is sent anywhere: not to the client, not to a transceiver.
    @Test(arguments: [
        FirstFrameCase.garbage, .media, .bindingWithoutUsername, .forgedToken, .plainUfrag, .truncatedRequest,
        .empty, .otherCluster, .otherFamily,
    ])
    func aBadFirstFrameClosesTheConnectionWithNoReply(_ frame: FirstFrameCase) throws {
        var core = Self.core()
        let id = try core.accept(Self.client, now: Self.start)
        let output = core.receive(RFC4571Framing.frame(frame.bytes), on: id, now: Self.start)
        #expect(output == TCPOutput(datagrams: [], closed: [id]))
        #expect(core.statistics.closed(frame.reason) == 1)
        #expect(core.statistics.admitted == 0 && core.connectionCount == 0)
        // Whatever the transceiver might say, there is no connection to write it on.
        let reply = RelayEncapsulation.encapsulate([1], client: Self.client, transport: .tcp)
        #expect(core.reply(reply, from: Self.transceiver) == .drop(.noConnection))
        // Later bytes of the closed connection are ignored.
        #expect(core.receive(RFC4571Framing.frame(bindingRequest(serverUfrag: Self.token())), on: id, now: Self.start) == TCPOutput())
    }

    @Test func aFrameOverFifteenHundredBytesClosesTheConnection() throws {
        var core = Self.core()
        // As the first frame: closed on the length alone, before the bytes arrive.
        let early = try core.accept(Self.client, now: Self.start)
        #expect(core.receive([0x05, 0xDD], on: early, now: Self.start) == TCPOutput(datagrams: [], closed: [early]))

        // After admission: 1,500 bytes pass, 1,501 close.
        let other = PeerAddress("198.51.100.8:50001")!
        let id = try core.accept(other, now: Self.start)
        _ = core.receive(RFC4571Framing.frame(bindingRequest(serverUfrag: Self.token())), on: id, now: Self.start)
        #expect(core.receive(RFC4571Framing.frame(mediaPacket(3, length: 1_500)), on: id, now: Self.start).datagrams.count == 1)
        let output = core.receive(RFC4571Framing.frame(mediaPacket(4, length: 1_501)), on: id, now: Self.start)
        #expect(output == TCPOutput(datagrams: [], closed: [id]))
        #expect(core.statistics.closed(.oversizeFrame) == 2)
    }

    /// A slow sender that never completes its first frame is closed at the first-frame
    /// timeout, however steadily it trickles bytes; an admitted connection that stops sending
    /// frames is closed at the idle timeout, while one that keeps sending stays.
    @Test func slowAndSilentConnectionsAreClosedByTheirTimeouts() throws {
        var core = Self.core(idleTimeout: .seconds(30))
        var now = Self.start
        let slow = try core.accept(Self.client, now: now)
        let request = RFC4571Framing.frame(bindingRequest(serverUfrag: Self.token()))
        let live = try core.accept(PeerAddress("198.51.100.8:50001")!, now: now)
        let quiet = try core.accept(PeerAddress("198.51.100.9:50002")!, now: now)
        _ = core.receive(request, on: live, now: now)
        _ = core.receive(request, on: quiet, now: now)
        var closed: [RelayTCPConnectionID] = []
        for step in 0..<400 {
            now = now + .milliseconds(100)
            // One byte of the slow sender's frame every 100 ms: it would take 7 s to finish
            // a 70-byte frame, and never does as it stops at byte 40.
            if step < 40 { closed += core.receive([request[step]], on: slow, now: now).closed }
            if step.isMultiple(of: 50) { closed += core.receive(RFC4571Framing.frame(mediaPacket(1)), on: live, now: now).closed }
            core.handleTimeout(now: now)
            closed += core.drain().closed
        }
        #expect(closed == [slow, quiet])
        #expect(core.statistics.closed(.firstFrameTimeout) == 1 && core.statistics.closed(.idleTimeout) == 1)
        #expect(core.connectionCount == 1 && core.statistics.forwarded(.clientToTransceiver) == 2 + 8)
    }

    @Test func connectionFloodsAreBoundedPerSourceAndPerWorker() throws {
        var core = Self.core(maxConnections: 5, maxPerSource: 3)
        let now = Self.start
        let flooder = (0..<4).map { PeerAddress(ip: .v4(0xC633_6407), port: UInt16(40_000 + $0)) }
        let first = try core.accept(flooder[0], now: now)
        let accepted = [flooder[1], flooder[2], flooder[3]].map { core.handleAccept(client: $0, now: now) != nil }
        #expect(accepted == [true, true, false])
        #expect(core.statistics.refused(.sourceLimit) == 1)
        // Other sources still get in, up to the worker's cap.
        let others = ["203.0.113.1:1", "203.0.113.2:1", "203.0.113.3:1"].map {
            core.handleAccept(client: PeerAddress($0)!, now: now) != nil
        }
        #expect(others == [true, true, false])
        #expect(core.statistics.refused(.workerLimit) == 1 && core.connectionCount == 5)
        // A connection that ends makes room for its source again.
        core.handleClosed(first)
        #expect(core.statistics.closed(.clientClosed) == 1)
        let again = core.handleAccept(client: flooder[3], now: now)
        #expect(again != nil)
        #expect(core.statistics.accepted == 8)
    }

    /// A client whose TCP window is closed: replies beyond the send queue are dropped and
    /// counted rather than queued without bound.
    @Test func repliesBeyondTheSendQueueAreDroppedAndCounted() throws {
        var core = Self.core(sendQueueBytes: 4_096)
        let id = try core.accept(Self.client, now: Self.start)
        _ = core.receive(RFC4571Framing.frame(bindingRequest(serverUfrag: Self.token())), on: id, now: Self.start)
        let reply = RelayEncapsulation.encapsulate(mediaPacket(2, length: 198), client: Self.client, transport: .tcp)
        #expect(core.reply(reply, from: Self.transceiver, queued: 4_096 - 200) == .write(id, payloadOffset: 8))
        #expect(core.reply(reply, from: Self.transceiver, queued: 4_096 - 199) == .drop(.sendQueueFull))
        #expect(core.reply(reply, from: Self.transceiver, queued: 1 << 20) == .drop(.sendQueueFull))
        #expect(core.statistics.dropped(.sendQueueFull) == 2 && core.statistics.forwarded(.transceiverToClient) == 1)
    }

    @Test func repliesOnlyFromTheConnectionsNextHopForATCPClient() throws {
        var core = Self.core()
        let id = try core.accept(Self.client, now: Self.start)
        _ = core.receive(RFC4571Framing.frame(bindingRequest(serverUfrag: Self.token())), on: id, now: Self.start)
        let payload = mediaPacket(2)
        #expect(core.reply(RelayEncapsulation.encapsulate(payload, client: Self.client), from: Self.transceiver)
            == .drop(.badEncapsulation))
        #expect(core.reply(payload, from: Self.transceiver) == .drop(.badEncapsulation))
        #expect(core.reply(RelayEncapsulation.encapsulate(payload, client: Self.client, transport: .tcp),
                           from: PeerAddress("10.0.1.2:4000")!) == .drop(.noConnection))
        #expect(core.reply(RelayEncapsulation.encapsulate(payload, client: PeerAddress("198.51.100.8:1")!, transport: .tcp),
                           from: Self.transceiver) == .drop(.noConnection))
        // Not yet admitted: no next hop, no replies.
        let pending = try core.accept(PeerAddress("198.51.100.9:2")!, now: Self.start)
        #expect(core.reply(RelayEncapsulation.encapsulate(payload, client: PeerAddress("198.51.100.9:2")!, transport: .tcp),
                           from: Self.transceiver) == .drop(.noConnection))
        #expect(core.statistics.dropped(.badEncapsulation) == 2 && core.statistics.dropped(.noConnection) == 3)
        #expect(core.connectionCount == 2 && pending != id)
    }

    @Test func emptyFramesAfterAdmissionAreDroppedAndCounted() throws {
        var core = Self.core()
        let id = try core.accept(Self.client, now: Self.start)
        _ = core.receive(RFC4571Framing.frame(bindingRequest(serverUfrag: Self.token())), on: id, now: Self.start)
        #expect(core.receive([0, 0, 0, 0, 0, 0], on: id, now: Self.start) == TCPOutput())
        #expect(core.statistics.dropped(.emptyFrame) == 3 && core.connectionCount == 1)
    }

    /// Cluster A's TCP worker sends a connection whose token names cluster B to B's relay over
    /// the backbone, marked TCP; B's UDP core keeps TCP backbone flows apart from UDP ones,
    /// forwards the mark unchanged to the transceiver, and the reply retraces the path.
    @Test func aTokenOfAnotherClusterCrossesTheBackboneWithItsMark() throws {
        let ownerBackbone = PeerAddress("10.0.2.1:3479")!
        let entryTCPWorker = PeerAddress("10.0.0.1:40007")!
        var entry = Self.core(cluster: 1, peerClusters: [2: ownerBackbone])
        var owner = RelayForwardingCoreTests.core(cluster: 2)
        let request = bindingRequest(serverUfrag: Self.token(cluster: 2))
        let id = try entry.accept(Self.client, now: Self.start)
        let output = entry.receive(RFC4571Framing.frame(request), on: id, now: Self.start)
        let marked = RelayEncapsulation.encapsulate(request, client: Self.client, transport: .tcp)
        #expect(output.datagrams == [TCPDatagram(destination: ownerBackbone, bytes: marked)])
        #expect(entry.statistics.forwarded(.clientToPeerRelay) == 1)

        #expect(owner.receive(marked, from: entryTCPWorker, on: .backbonePort, now: Self.start) == .sent(Sent(
            socket: .internalPort, destination: Self.transceiver, bytes: marked, direction: .peerRelayToTransceiver)))
        // A UDP client of the same address and port is another client: it has no flow there.
        #expect(owner.receive(RelayEncapsulation.encapsulate(mediaPacket(1), client: Self.client), from: entryTCPWorker,
                              on: .backbonePort, now: Self.start) == .dropped(.unknownFlow))
        let udpReply = RelayEncapsulation.encapsulate([7], client: Self.client)
        #expect(owner.receive(udpReply, from: Self.transceiver, on: .internalPort, now: Self.start) == .dropped(.noReturnFlow))

        let reply = RelayEncapsulation.encapsulate([7, 7, 7], client: Self.client, transport: .tcp)
        #expect(owner.receive(reply, from: Self.transceiver, on: .internalPort, now: Self.start) == .sent(Sent(
            socket: .backbonePort, destination: entryTCPWorker, bytes: reply, direction: .transceiverToPeerRelay)))
        #expect(entry.reply(reply, from: ownerBackbone) == .write(id, payloadOffset: 8))
        #expect(entry.statistics.forwarded(.peerRelayToClient) == 1)
        #expect(owner.flowCount == 1 && owner.statistics.flowsCreated(.backbone) == 1)

        // Idle TCP backbone flows expire like UDP ones.
        owner.handleTimeout(now: Self.start + .seconds(20))
        owner.handleTimeout(now: Self.start + .seconds(40))
        #expect(owner.flowCount == 0 && owner.statistics.flowsExpired == 1)
    }

    /// A rotation (docs/routing-token.md) seen by a TCP worker: the new key opens connections
    /// once added, the retired key no longer does, and a connection admitted under the old
    /// key keeps forwarding both ways.
    @Test func aRotatedKeyringAdmitsNewTokensRetiresOldOnesAndKeepsAdmittedConnections() throws {
        var core = Self.core()
        let now = Self.start
        let oldKey = RoutingKey(id: 0, secret: Array("parley-development-routing-key-0".utf8))
        let newKey = RoutingKey(id: 1, secret: Array(repeating: 0x42, count: 32))
        var generator = SeededGenerator(seed: 22)
        let newToken = RoutingToken.issue(transceiver: Self.transceiver, cluster: 0,
                                          keyring: try RoutingKeyring(keys: [newKey], signingKeyID: 1), using: &generator)
        let admitted = try core.accept(Self.client, now: now)
        #expect(core.receive(RFC4571Framing.frame(bindingRequest(serverUfrag: Self.token())), on: admitted, now: now)
            .datagrams.count == 1)
        let early = try core.accept(PeerAddress("198.51.100.8:50000")!, now: now)
        #expect(core.receive(RFC4571Framing.frame(bindingRequest(serverUfrag: newToken)), on: early, now: now).closed == [early])

        // Step one: both keys verify, the new one signs.
        core.replaceKeyring(try RoutingKeyring(keys: [oldKey, newKey], signingKeyID: 1))
        let withNewKey = try core.accept(PeerAddress("198.51.100.9:50000")!, now: now)
        #expect(core.receive(RFC4571Framing.frame(bindingRequest(serverUfrag: newToken)), on: withNewKey, now: now)
            .datagrams.count == 1)

        // Step two: the old key retired. Its tokens no longer open connections...
        core.replaceKeyring(try RoutingKeyring(keys: [newKey], signingKeyID: 1))
        let withOldKey = try core.accept(PeerAddress("198.51.100.10:50000")!, now: now)
        let refused = core.receive(RFC4571Framing.frame(bindingRequest(serverUfrag: RelayForwardingCoreTests.token(
            naming: Self.transceiver, seed: 3))), on: withOldKey, now: now)
        #expect(refused == TCPOutput(datagrams: [], closed: [withOldKey]))
        // ...but the connection admitted under it forwards both ways.
        #expect(core.receive(RFC4571Framing.frame(mediaPacket(1)), on: admitted, now: now).datagrams == [TCPDatagram(
            destination: Self.transceiver, bytes: RelayEncapsulation.encapsulate(mediaPacket(1), client: Self.client, transport: .tcp))])
        let reply = RelayEncapsulation.encapsulate(mediaPacket(2), client: Self.client, transport: .tcp)
        #expect(core.reply(reply, from: Self.transceiver) == .write(admitted, payloadOffset: 8))
        #expect(core.statistics.closed(.badToken) == 2 && core.statistics.admitted == 2 && core.connectionCount == 2)
    }

    /// Random bytes in random pieces on many connections: nothing reaches a transceiver
    /// without a verified token, and every connection that was not admitted ends closed.
    @Test func randomStreamsNeverOpenAPath() {
        var core = Self.core(maxConnections: 10_000, maxPerSource: 10_000)
        var generator = SeededGenerator(seed: 0x7C9)
        let valid = RFC4571Framing.frame(bindingRequest(serverUfrag: Self.token()))
        var now = Self.start
        for round in 0..<2_000 {
            let client = PeerAddress(ip: .v4(0xC633_6400 | UInt32(round % 200)), port: UInt16(1_024 + round))
            guard let id = core.handleAccept(client: client, now: now) else { continue }
            var bytes: [UInt8] = switch round % 3 {
            case 0: (0..<Int.random(in: 0...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            case 1: Array(valid.prefix(Int.random(in: 0..<valid.count, using: &generator)))
            default: valid
            }
            if round % 3 == 2 {
                // One flipped byte inside the request's STUN body breaks it or its token.
                let index = Int.random(in: 2..<valid.count - 12, using: &generator)
                bytes[index] ^= UInt8.random(in: 1...255, using: &generator)
            }
            var output = TCPOutput()
            while !bytes.isEmpty {
                let piece = min(Int.random(in: 1...64, using: &generator), bytes.count)
                let received = core.receive(Array(bytes.prefix(piece)), on: id, now: now)
                output.datagrams += received.datagrams
                output.closed += received.closed
                bytes.removeFirst(piece)
            }
            // A flipped byte may land where it changes nothing that matters (an ignored
            // attribute value, the client ufrag): such a request still carries a valid token.
            for datagram in output.datagrams {
                let inner = Array(RelayEncapsulation.parse(datagram.bytes)!.payload)
                #expect(RoutingToken.verify(String(decoding: STUNMessage.usernamePrefix(inner), as: UTF8.self), keyring: Self.keyring) != nil)
            }
            now = now + .milliseconds(3)
        }
        core.handleTimeout(now: now + .seconds(11))
        _ = core.drain()
        let statistics = core.statistics
        #expect(core.connectionCount == Int(statistics.admitted))
        #expect(statistics.forwarded(.clientToTransceiver) == statistics.admitted)
        #expect(statistics.accepted == 2_000 && statistics.admitted < 1_000)
    }

    // MARK: Helpers

    static func core(cluster: UInt16 = 0, peerClusters: [UInt16: PeerAddress] = [:], idleTimeout: Duration = .seconds(30),
                     maxConnections: Int = 100, maxPerSource: Int = 10, sendQueueBytes: Int = 16_384) -> RelayTCPCore {
        let configuration = RelayConfiguration(
            publicAddress: PeerAddress("203.0.113.1:3478")!, internalAddress: PeerAddress("10.0.0.1:3479")!,
            publicTCPAddress: PeerAddress("203.0.113.1:443")!, maxTCPConnectionsPerWorker: maxConnections,
            maxTCPConnectionsPerSource: maxPerSource, tcpFirstFrameTimeout: .seconds(10), tcpSendQueueBytes: sendQueueBytes,
            workers: 1, cluster: cluster, peerClusters: peerClusters, flowIdleTimeout: idleTimeout)
        return RelayTCPCore(configuration: configuration, keyring: keyring, now: start)
    }

    static func token(cluster: UInt16 = 0) -> String {
        RelayForwardingCoreTests.token(naming: transceiver, cluster: cluster)
    }
}

/// First frames a relay must refuse, each with the close reason it is counted under.
enum FirstFrameCase: String, CaseIterable, CustomTestStringConvertible {
    case garbage, media, bindingWithoutUsername, forgedToken, plainUfrag, truncatedRequest, empty, otherCluster, otherFamily

    var testDescription: String { rawValue }

    var bytes: [UInt8] {
        let keyring = RelayTCPCoreTests.keyring
        var generator = SeededGenerator(seed: 3)
        switch self {
        case .garbage: return (0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) }
        case .media: return mediaPacket(1)
        case .bindingWithoutUsername:
            return STUNMessage(class: .request, transactionID: .random(using: &generator)).encoded(integrityKey: nil, fingerprint: true)
        case .forgedToken:
            let other = try! RoutingKeyring(keys: [RoutingKey(id: 0, secret: Array(repeating: 7, count: 32))], signingKeyID: 0)
            return bindingRequest(serverUfrag: RoutingToken.issue(transceiver: RelayTCPCoreTests.transceiver, cluster: 0,
                                                                  keyring: other, using: &generator))
        case .plainUfrag: return bindingRequest(serverUfrag: "plainufrag")
        case .truncatedRequest: return Array(bindingRequest(serverUfrag: RelayTCPCoreTests.token()).dropLast(8))
        case .empty: return []
        case .otherCluster: return bindingRequest(serverUfrag: RelayTCPCoreTests.token(cluster: 9))
        case .otherFamily:
            return bindingRequest(serverUfrag: RoutingToken.issue(transceiver: PeerAddress("[fd00::1]:4000")!, cluster: 0,
                                                                  keyring: keyring, using: &generator))
        }
    }

    var reason: RelayTCPCloseReason {
        switch self {
        case .garbage, .media, .bindingWithoutUsername, .truncatedRequest, .empty: .notBindingRequest
        case .forgedToken, .plainUfrag: .badToken
        case .otherCluster: .unknownCluster
        case .otherFamily: .addressFamily
        }
    }
}

/// A datagram a TCP worker sends toward a transceiver or peer relay.
struct TCPDatagram: Equatable {
    var destination: PeerAddress
    var bytes: [UInt8]
}

/// What a TCP core produced after one input: datagrams, and connections to close.
struct TCPOutput: Equatable {
    var datagrams: [TCPDatagram] = []
    var closed: [RelayTCPConnectionID] = []
}

/// A connection the core refused in a test that expected it taken.
struct RefusedConnection: Error {}

extension RelayTCPCore {
    /// `handleAccept` for a connection the test expects taken.
    mutating func accept(_ client: PeerAddress, now: Instant) throws -> RelayTCPConnectionID {
        guard let id = handleAccept(client: client, now: now) else { throw RefusedConnection() }
        return id
    }

    /// Hands the core bytes read from connection `id` and collects what it produced.
    mutating func receive(_ bytes: [UInt8], on id: RelayTCPConnectionID, now: Instant) -> TCPOutput {
        bytes.withUnsafeBytes { handleReceived($0, on: id, now: now) }
        return drain()
    }

    /// Everything queued: datagrams, then closes.
    mutating func drain() -> TCPOutput {
        var output = TCPOutput()
        var buffer = [UInt8](repeating: 0, count: 2_048)
        while let datagram = buffer.withUnsafeMutableBytes({ pollTransmit(into: $0) }) {
            output.datagrams.append(TCPDatagram(destination: datagram.destination, bytes: Array(buffer[..<datagram.length])))
        }
        while let id = pollClose() { output.closed.append(id) }
        return output
    }

    /// A datagram on the internal socket, with `queued` bytes waiting on every connection.
    mutating func reply(_ datagram: [UInt8], from source: PeerAddress, queued: Int = 0) -> RelayTCPReplyAction {
        datagram.withUnsafeBytes { handleReply($0, from: source) { _ in queued } }
    }
}

extension STUNMessage {
    /// The server ufrag of a Binding request's USERNAME (before `:`), for checks in tests.
    static func usernamePrefix(_ datagram: [UInt8]) -> [UInt8] {
        guard let range = datagram.withUnsafeBytes({ STUNPeek.username(in: $0) }) else { return [] }
        return Array(datagram[range].prefix { $0 != UInt8(ascii: ":") })
    }
}
