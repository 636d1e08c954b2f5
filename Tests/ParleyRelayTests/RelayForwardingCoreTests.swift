import ParleyRelay
import ParleyRouting
import ParleyTestSupport
import ParleyWire
import Testing

/// The relay's decisions in memory: datagrams, sources and time go in, actions come out.
@Suite("Relay forwarding core")
struct RelayForwardingCoreTests {
    static let keyring = RoutingKeyring.development()
    static let start = Instant(nanoseconds: 1_000_000_000)
    static let transceiver = PeerAddress("10.0.1.1:4000")!
    static let client = PeerAddress("198.51.100.7:50000")!

    @Test func onlyAVerifiedTokenAdmitsAClient() throws {
        var core = Self.core()
        let now = Self.start
        let good = Self.token(naming: Self.transceiver)
        var wrongMAC = Array(good.utf8)
        wrongMAC[wrongMAC.count - 1] = wrongMAC.last == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let otherKeyring = try RoutingKeyring(keys: [RoutingKey(id: 0, secret: Array(repeating: 7, count: 32))], signingKeyID: 0)
        var generator = SeededGenerator(seed: 9)
        let forged = RoutingToken.issue(transceiver: Self.transceiver, cluster: 0, keyring: otherKeyring, using: &generator)
        for ufrag in [String(decoding: wrongMAC, as: UTF8.self), forged, String(good.dropLast(4)), "plainufrag", ""] {
            #expect(core.receive(bindingRequest(serverUfrag: ufrag), from: Self.client, on: .publicPort, now: now)
                == .dropped(.badToken))
        }
        let withoutUsername = STUNMessage(class: .request, transactionID: .random(using: &generator))
            .encoded(integrityKey: nil, fingerprint: true)
        #expect(core.receive(withoutUsername, from: Self.client, on: .publicPort, now: now) == .dropped(.notBindingRequest))
        #expect(core.receive(mediaPacket(1), from: Self.client, on: .publicPort, now: now) == .dropped(.unknownFlow))
        #expect(core.flowCount == 0)

        let request = bindingRequest(serverUfrag: good)
        #expect(core.receive(request, from: Self.client, on: .publicPort, now: now) == .sent(Sent(
            socket: .internalPort, destination: Self.transceiver,
            bytes: RelayEncapsulation.encapsulate(request, client: Self.client), direction: .clientToTransceiver)))
        // Later datagrams of the flow pass without being STUN.
        #expect(core.receive(mediaPacket(2), from: Self.client, on: .publicPort, now: now).destination == Self.transceiver)

        let statistics = core.statistics
        #expect(statistics.flowsCreated(.token) == 1 && core.flowCount == 1)
        #expect(statistics.dropped(.badToken) == 5 && statistics.dropped(.notBindingRequest) == 1
            && statistics.dropped(.unknownFlow) == 1)
        #expect(statistics.forwarded(.clientToTransceiver) == 2 && statistics.received(.publicPort) == 9)
        #expect(statistics.forwardedBytes(.clientToTransceiver) == UInt64(request.count + 8 + mediaPacket(2).count + 8))
    }

    @Test func datagramsOfUnknownClientsAreNeverAnswered() throws {
        var core = Self.core()
        var generator = SeededGenerator(seed: 0x5EED)
        let otherKeyring = try RoutingKeyring(keys: [RoutingKey(id: 1, secret: Array(repeating: 3, count: 32))], signingKeyID: 1)
        let foreignRequest = bindingRequest(serverUfrag: RoutingToken.issue(
            transceiver: Self.transceiver, cluster: 0, keyring: otherKeyring, using: &generator))
        let validRequest = bindingRequest(serverUfrag: Self.token(naming: Self.transceiver))
        var now = Self.start
        for round in 0..<3_000 {
            let source = PeerAddress(ip: .v4(0xC633_6400 | UInt32(round % 200)), port: UInt16(1_024 + round))
            let datagram: [UInt8] = switch round % 4 {
            case 0: (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            case 1: foreignRequest
            case 2: Array(validRequest.prefix(Int.random(in: 0..<validRequest.count - 8, using: &generator)))
            default: RelayEncapsulation.encapsulate(validRequest, client: source)
            }
            let socket: RelaySocketRole = round % 3 == 0 ? .internalPort : .publicPort
            #expect(core.receive(datagram, from: source, on: socket, now: now).destination == nil)
            now = now + .milliseconds(1)
        }
        #expect(core.flowCount == 0)
        #expect(core.statistics.droppedTotal == 3_000)
        #expect(RelayDirection.allCases.allSatisfy { core.statistics.forwarded($0) == 0 })
    }

    @Test func returnTrafficOnlyFromTheFlowsTransceiverToItsClient() {
        var core = Self.core()
        let now = Self.start
        _ = core.receive(bindingRequest(serverUfrag: Self.token(naming: Self.transceiver)), from: Self.client,
                         on: .publicPort, now: now)
        let reply = mediaPacket(5, length: 80)
        #expect(core.receive(RelayEncapsulation.encapsulate(reply, client: Self.client), from: Self.transceiver,
                             on: .internalPort, now: now)
            == .sent(Sent(socket: .publicPort, destination: Self.client, bytes: reply, direction: .transceiverToClient)))

        let otherTransceiver = PeerAddress("10.0.1.2:4000")!
        let stranger = PeerAddress("198.51.100.8:50000")!
        #expect(core.receive(RelayEncapsulation.encapsulate(reply, client: Self.client), from: otherTransceiver,
                             on: .internalPort, now: now) == .dropped(.noReturnFlow))
        #expect(core.receive(RelayEncapsulation.encapsulate(reply, client: stranger), from: Self.transceiver,
                             on: .internalPort, now: now) == .dropped(.noReturnFlow))
        #expect(core.receive(reply, from: Self.transceiver, on: .internalPort, now: now) == .dropped(.badEncapsulation))
        // The transceiver cannot reach the client by other doors either.
        #expect(core.receive(reply, from: Self.transceiver, on: .publicPort, now: now) == .dropped(.unknownFlow))
        #expect(core.receive(RelayEncapsulation.encapsulate(reply, client: Self.client), from: Self.transceiver,
                             on: .backbonePort, now: now) == .dropped(.unknownFlow))
        #expect(core.statistics.forwarded(.transceiverToClient) == 1)
    }

    @Test func aTokenOfAnotherClusterCrossesTheBackboneAndTheReplyRetracesIt() {
        let entryWorker = PeerAddress("10.0.0.1:40001")!
        let ownerBackbone = PeerAddress("10.0.2.1:3479")!
        var entry = Self.core(cluster: 1, peerClusters: [2: ownerBackbone])
        var owner = Self.core(cluster: 2)
        let now = Self.start
        let request = bindingRequest(serverUfrag: Self.token(naming: Self.transceiver, cluster: 2))

        let toOwner = entry.receive(request, from: Self.client, on: .publicPort, now: now)
        #expect(toOwner == .sent(Sent(socket: .internalPort, destination: ownerBackbone,
                                      bytes: RelayEncapsulation.encapsulate(request, client: Self.client),
                                      direction: .clientToPeerRelay)))
        let toTransceiver = owner.receive(toOwner.bytes ?? [], from: entryWorker, on: .backbonePort, now: now)
        #expect(toTransceiver == .sent(Sent(socket: .internalPort, destination: Self.transceiver,
                                            bytes: toOwner.bytes ?? [], direction: .peerRelayToTransceiver)))

        let reply = RelayEncapsulation.encapsulate([7, 7, 7], client: Self.client)
        let toEntry = owner.receive(reply, from: Self.transceiver, on: .internalPort, now: now)
        #expect(toEntry == .sent(Sent(socket: .backbonePort, destination: entryWorker, bytes: reply,
                                      direction: .transceiverToPeerRelay)))
        #expect(entry.receive(reply, from: ownerBackbone, on: .internalPort, now: now)
            == .sent(Sent(socket: .publicPort, destination: Self.client, bytes: [7, 7, 7], direction: .peerRelayToClient)))

        // The owner takes the client's later datagrams only from the relay worker that opened the flow.
        let media = RelayEncapsulation.encapsulate(mediaPacket(1), client: Self.client)
        #expect(owner.receive(media, from: entryWorker, on: .backbonePort, now: now).destination == Self.transceiver)
        #expect(owner.receive(media, from: PeerAddress("10.0.3.1:40003")!, on: .backbonePort, now: now)
            == .dropped(.unknownFlow))
        // No way around the token check: another cluster's token, and a cluster with no peer.
        let stranger = PeerAddress("198.51.100.9:50000")!
        let elsewhere = bindingRequest(serverUfrag: Self.token(naming: Self.transceiver, cluster: 3))
        #expect(owner.receive(RelayEncapsulation.encapsulate(elsewhere, client: stranger), from: entryWorker,
                              on: .backbonePort, now: now) == .dropped(.wrongCluster))
        #expect(entry.receive(elsewhere, from: stranger, on: .publicPort, now: now) == .dropped(.unknownCluster))
        #expect(owner.statistics.flowsCreated(.backbone) == 1 && entry.statistics.flowsCreated(.token) == 1)
    }

    @Test func aRestartedCoreForwardsAKnownClientOnceTheStoreAnswers() {
        var store: [PeerAddress: PeerAddress] = [:]
        var first = Self.core(usesFlowStore: true)
        var now = Self.start
        _ = first.receive(bindingRequest(serverUfrag: Self.token(naming: Self.transceiver)), from: Self.client,
                          on: .publicPort, now: now)
        while let request = first.pollFlowStoreRequest() {
            guard case .record(let client, let nextHop) = request else { continue }
            store[client] = nextHop
        }
        #expect(store == [Self.client: Self.transceiver])

        // A new process: no flows. Media of the client is dropped and asks the store, once.
        var restarted = Self.core(usesFlowStore: true)
        now = now + .seconds(2)
        #expect(restarted.receive(mediaPacket(1), from: Self.client, on: .publicPort, now: now) == .dropped(.unknownFlow))
        #expect(restarted.receive(mediaPacket(2), from: Self.client, on: .publicPort, now: now) == .dropped(.unknownFlow))
        #expect(restarted.pollFlowStoreRequest() == .lookup(client: Self.client))
        #expect(restarted.pollFlowStoreRequest() == nil)

        restarted.handleRestored(client: Self.client, nextHop: store[Self.client]!, now: now)
        let media = mediaPacket(3)
        #expect(restarted.receive(media, from: Self.client, on: .publicPort, now: now) == .sent(Sent(
            socket: .internalPort, destination: Self.transceiver,
            bytes: RelayEncapsulation.encapsulate(media, client: Self.client), direction: .clientToTransceiver)))
        #expect(restarted.receive(RelayEncapsulation.encapsulate([9, 9], client: Self.client), from: Self.transceiver,
                                  on: .internalPort, now: now).bytes == [9, 9])
        #expect(restarted.statistics.flowsCreated(.store) == 1 && restarted.statistics.lookupsRequested == 1)

        // Without a flow store the same datagram is only dropped.
        var storeless = Self.core(usesFlowStore: false)
        #expect(storeless.receive(mediaPacket(1), from: Self.client, on: .publicPort, now: now) == .dropped(.unknownFlow))
        #expect(storeless.pollFlowStoreRequest() == nil)
    }

    @Test func aRestoredNextHopOutsideTheTransceiverNetworksIsRefused() {
        let peerRelay = PeerAddress("192.0.2.50:3480")!
        var core = Self.core(peerClusters: [7: peerRelay], usesFlowStore: true, transceiverNetworks: [IPNetwork("10.0.1.0/24")!])
        let now = Self.start
        // Whoever wrote this entry into the store wants the client's media sent elsewhere.
        core.handleRestored(client: Self.client, nextHop: PeerAddress("10.9.9.9:4000")!, now: now)
        #expect(core.flowCount == 0 && core.statistics.restoresRefused == 1)
        #expect(core.receive(mediaPacket(1), from: Self.client, on: .publicPort, now: now) == .dropped(.unknownFlow))
        // A transceiver inside the networks, and a peer relay, are taken.
        core.handleRestored(client: Self.client, nextHop: Self.transceiver, now: now)
        core.handleRestored(client: PeerAddress("198.51.100.8:50000")!, nextHop: peerRelay, now: now)
        #expect(core.flowCount == 2 && core.statistics.restoresRefused == 1 && core.statistics.flowsCreated(.store) == 2)
        #expect(core.receive(mediaPacket(2), from: Self.client, on: .publicPort, now: now).destination == Self.transceiver)
    }

    @Test func aRotatedKeyringAdmitsNewTokensRetiresOldOnesAndKeepsAdmittedFlows() throws {
        var core = Self.core()
        var now = Self.start
        let oldKey = RoutingKey(id: 0, secret: Array("parley-development-routing-key-0".utf8))
        let newKey = RoutingKey(id: 1, secret: Array(repeating: 0x42, count: 32))
        var generator = SeededGenerator(seed: 21)
        let newToken = RoutingToken.issue(transceiver: Self.transceiver, cluster: 0,
                                          keyring: try RoutingKeyring(keys: [newKey], signingKeyID: 1), using: &generator)
        let otherClient = PeerAddress("198.51.100.8:50000")!
        #expect(core.receive(bindingRequest(serverUfrag: Self.token(naming: Self.transceiver)), from: Self.client,
                             on: .publicPort, now: now).destination == Self.transceiver)
        #expect(core.receive(bindingRequest(serverUfrag: newToken), from: otherClient, on: .publicPort, now: now)
            == .dropped(.badToken))

        // Step one of a rotation: both keys verify, the new one signs.
        core.replaceKeyring(try RoutingKeyring(keys: [oldKey, newKey], signingKeyID: 1))
        now = now + .milliseconds(10)
        #expect(core.receive(bindingRequest(serverUfrag: newToken), from: otherClient, on: .publicPort, now: now).destination
            == Self.transceiver)
        #expect(core.receive(bindingRequest(serverUfrag: Self.token(naming: Self.transceiver, seed: 2)),
                             from: PeerAddress("198.51.100.9:50000")!, on: .publicPort, now: now).destination == Self.transceiver)

        // The old key retired: its tokens no longer open flows, but admitted flows keep forwarding.
        core.replaceKeyring(try RoutingKeyring(keys: [newKey], signingKeyID: 1))
        now = now + .milliseconds(10)
        #expect(core.receive(bindingRequest(serverUfrag: Self.token(naming: Self.transceiver, seed: 3)),
                             from: PeerAddress("198.51.100.10:50000")!, on: .publicPort, now: now) == .dropped(.badToken))
        #expect(core.receive(mediaPacket(3), from: Self.client, on: .publicPort, now: now).destination == Self.transceiver)
        #expect(core.flowCount == 3 && core.statistics.dropped(.badToken) == 2)
    }

    @Test func aLiveFlowIsRecordedAgainOncePerIdleTimeout() {
        var core = Self.core(usesFlowStore: true)
        var now = Self.start
        _ = core.receive(bindingRequest(serverUfrag: Self.token(naming: Self.transceiver)), from: Self.client,
                         on: .publicPort, now: now)
        #expect(core.pollFlowStoreRequest() == .record(client: Self.client, nextHop: Self.transceiver))
        var records = 0
        for _ in 0..<70 {
            now = now + .seconds(1)
            _ = core.receive(mediaPacket(1), from: Self.client, on: .publicPort, now: now)
            while let request = core.pollFlowStoreRequest() {
                #expect(request == .record(client: Self.client, nextHop: Self.transceiver))
                records += 1
            }
        }
        #expect(records == 2)
    }

    @Test func idleFlowsExpireOnInjectedTimeAndBusyOnesStay() {
        var core = Self.core(idleTimeout: .seconds(30))
        let idle = PeerAddress("198.51.100.1:50000")!
        let busy = PeerAddress("198.51.100.2:50000")!
        var now = Self.start
        for client in [idle, busy] {
            _ = core.receive(bindingRequest(serverUfrag: Self.token(naming: Self.transceiver)), from: client,
                             on: .publicPort, now: now)
        }
        #expect(core.nextDeadline() == Self.start + .milliseconds(100))
        while now < Self.start + .seconds(45) {
            now = core.nextDeadline()
            core.handleTimeout(now: now)
            if (now - Self.start) < .seconds(29) {
                #expect(core.flowCount == 2)
            }
            if (now - Self.start).nanosecondsRounded % 1_000_000_000 == 0 {
                _ = core.receive(mediaPacket(1), from: busy, on: .publicPort, now: now)
            }
        }
        #expect(core.flowCount == 1)
        #expect(core.statistics.flowsExpired == 1 && core.statistics.flows == 1)
        #expect(core.receive(mediaPacket(2), from: idle, on: .publicPort, now: now) == .dropped(.unknownFlow))
        #expect(core.receive(mediaPacket(3), from: busy, on: .publicPort, now: now).destination == Self.transceiver)
    }

    @Test func newFlowsAreLimitedPerSourceAndByTheTableCap() {
        var limited = Self.core(newFlowsPerSecond: 1, newFlowBurst: 2)
        let now = Self.start
        let request = bindingRequest(serverUfrag: Self.token(naming: Self.transceiver))
        let outcomes = (0..<4).map { port in
            limited.receive(request, from: PeerAddress(ip: Self.client.ip, port: UInt16(50_000 + port)), on: .publicPort, now: now)
        }
        #expect(outcomes.map(\.destination) == [Self.transceiver, Self.transceiver, nil, nil])
        #expect(limited.statistics.dropped(.rateLimited) == 2)
        #expect(limited.receive(request, from: PeerAddress(ip: Self.client.ip, port: 50_009), on: .publicPort,
                                now: now + .seconds(1)).destination == Self.transceiver)

        var capped = Self.core(maxFlows: 2)
        for index in 0..<3 {
            _ = capped.receive(request, from: PeerAddress(ip: .v4(0xC633_6400 + UInt32(index)), port: 50_000),
                               on: .publicPort, now: now)
        }
        #expect(capped.flowCount == 2 && capped.statistics.dropped(.flowTableFull) == 1)

        let ipv6Transceiver = PeerAddress("[2001:db8::1]:4000")!
        #expect(capped.receive(bindingRequest(serverUfrag: Self.token(naming: ipv6Transceiver)), from: Self.client,
                               on: .publicPort, now: now) == .dropped(.addressFamily))
    }

    @Test func aThousandClientsEachReachTheTransceiverTheirTokenNames() {
        var core = Self.core(maxFlows: 2_000)
        let transceivers = (0..<16).map { PeerAddress(ip: .v4(0x0A00_0100 + UInt32($0)), port: 4_000) }
        let clients = (0..<1_000).map { PeerAddress(ip: .v4(0xC633_0000 + UInt32($0)), port: UInt16(40_000 + $0 % 7)) }
        var generator = SeededGenerator(seed: 1_000)
        let owner = clients.map { _ in transceivers.randomElement(using: &generator)! }
        let now = Self.start
        var order = Array(clients.indices)
        order.shuffle(using: &generator)
        for index in order {
            let token = RoutingToken.issue(transceiver: owner[index], cluster: 0, keyring: Self.keyring, using: &generator)
            #expect(core.receive(bindingRequest(serverUfrag: token), from: clients[index], on: .publicPort, now: now)
                .destination == owner[index])
        }
        order.shuffle(using: &generator)
        for index in order {
            let media = core.receive(mediaPacket(UInt8(index % 256)), from: clients[index], on: .publicPort, now: now)
            #expect(media.destination == owner[index])
            #expect(media.bytes.flatMap { RelayEncapsulation.parse($0)?.client } == clients[index])
            let reply = RelayEncapsulation.encapsulate([UInt8(index % 256)], client: clients[index])
            #expect(core.receive(reply, from: owner[index], on: .internalPort, now: now)
                == .sent(Sent(socket: .publicPort, destination: clients[index], bytes: [UInt8(index % 256)],
                              direction: .transceiverToClient)))
            let wrong = transceivers[(transceivers.firstIndex(of: owner[index])! + 1) % transceivers.count]
            #expect(core.receive(reply, from: wrong, on: .internalPort, now: now) == .dropped(.noReturnFlow))
        }
        #expect(core.flowCount == 1_000)
        #expect(core.statistics.forwarded(.clientToTransceiver) == 2_000)
        #expect(core.statistics.forwarded(.transceiverToClient) == 1_000)
    }

    // MARK: Helpers

    static func core(cluster: UInt16 = 0, peerClusters: [UInt16: PeerAddress] = [:], idleTimeout: Duration = .seconds(30),
                     newFlowsPerSecond: Double = 50, newFlowBurst: Double = 100, maxFlows: Int = 1_000,
                     usesFlowStore: Bool = false, transceiverNetworks: [IPNetwork] = []) -> RelayForwardingCore {
        let configuration = RelayConfiguration(
            publicAddress: PeerAddress("203.0.113.1:3478")!, internalAddress: PeerAddress("10.0.0.1:3479")!,
            workers: 1, cluster: cluster, peerClusters: peerClusters, flowIdleTimeout: idleTimeout,
            maxFlowsPerWorker: maxFlows, newFlowsPerSecondPerSource: newFlowsPerSecond,
            newFlowBurstPerSource: newFlowBurst, transceiverNetworks: transceiverNetworks)
        return RelayForwardingCore(configuration: configuration, keyring: keyring, usesFlowStore: usesFlowStore, now: start)
    }

    static func token(naming transceiver: PeerAddress, cluster: UInt16 = 0, seed: UInt64 = 1) -> String {
        var generator = SeededGenerator(seed: seed)
        return RoutingToken.issue(transceiver: transceiver, cluster: cluster, keyring: keyring, using: &generator)
    }
}

/// A datagram as it leaves the relay.
struct Sent: Equatable {
    var socket: RelaySocketRole
    var destination: PeerAddress
    var bytes: [UInt8]
    var direction: RelayDirection
}

/// What became of one datagram handed to a core.
enum Outcome: Equatable {
    case sent(Sent)
    case dropped(RelayDropReason)

    var destination: PeerAddress? {
        if case .sent(let sent) = self { return sent.destination }
        return nil
    }

    var bytes: [UInt8]? {
        if case .sent(let sent) = self { return sent.bytes }
        return nil
    }
}

extension RelayForwardingCore {
    /// Hands `bytes` to the core as the worker loop does and builds what it would send.
    mutating func receive(_ bytes: [UInt8], from source: PeerAddress, on socket: RelaySocketRole, now: Instant) -> Outcome {
        let action = bytes.withUnsafeBytes { handle($0, from: source, on: socket, now: now) }
        switch action {
        case .drop(let reason):
            return .dropped(reason)
        case .forward(let forward):
            let sent: [UInt8] = switch forward.framing {
            case .unchanged: bytes
            case .encapsulated(let client): RelayEncapsulation.encapsulate(bytes, client: client)
            case .stripped(let headerLength): Array(bytes[headerLength...])
            }
            return .sent(Sent(socket: forward.socket, destination: forward.destination, bytes: sent, direction: forward.direction))
        }
    }
}
