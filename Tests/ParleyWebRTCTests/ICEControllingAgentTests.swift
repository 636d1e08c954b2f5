import Testing
import ParleyWire
import ParleyWebRTC

/// A client agent and an ICE-lite server on an in-memory path, with injected time and loss.
struct ICEPath {
    var client: ICEControllingAgent
    var server: ICELiteAgent
    var now: Instant = .zero
    var clientEvents: [(Instant, ICEControllingAgent.Event)] = []
    var serverEvents: [(Instant, ICELiteAgent.Event)] = []
    /// Datagrams from the client to lose before the next ones get through.
    var loseNextFromClient = 0
    /// When true, everything in both directions is lost.
    var cut = false
    var sentByClient = 0

    init(candidates: [PeerAddress] = [serverAddress], seed: UInt64 = 1) {
        client = ICEControllingAgent(local: clientCredentials, remote: serverCredentials, remoteCandidates: candidates,
                                     tieBreaker: 0x0123_4567_89AB_CDEF, now: .zero, randomSeed: seed)
        server = ICELiteAgent(local: serverCredentials, remoteUfrag: clientCredentials.ufrag, now: .zero)
    }

    mutating func exchange() {
        var moved = true
        while moved {
            moved = false
            while let transmit = client.pollTransmit() {
                moved = true
                sentByClient += 1
                if loseNextFromClient > 0 {
                    loseNextFromClient -= 1
                    continue
                }
                guard !cut, transmit.destination == serverAddress,
                      let message = try? STUNMessage(parsing: transmit.payload) else { continue }
                _ = server.handle(message, from: clientAddress, now: now)
            }
            while let transmit = server.pollTransmit() {
                moved = true
                guard !cut, transmit.destination == clientAddress,
                      let message = try? STUNMessage(parsing: transmit.payload) else { continue }
                let accepted = client.handle(message, from: serverAddress, now: now)
                #expect(accepted)
            }
            while let event = client.pollEvent() { clientEvents.append((now, event)) }
            while let event = server.pollEvent() { serverEvents.append((now, event)) }
        }
    }

    /// Advances time from deadline to deadline until `done` or `limit`.
    mutating func run(until limit: Instant, done: (ICEPath) -> Bool = { _ in false }) {
        exchange()
        while !done(self) {
            let next = [client.nextDeadline(), server.nextDeadline()].compactMap { $0 }.min()
            guard let next, next <= limit else {
                now = limit
                return
            }
            now = max(now, next)
            client.handleTimeout(now: now)
            server.handleTimeout(now: now)
            exchange()
        }
    }

    var isConnected: Bool { clientEvents.contains { $0.1 == .connected(serverAddress) } }
}

@Test func connectsToAnICELiteAgentInMemory() {
    var path = ICEPath()
    path.run(until: seconds(5)) { $0.isConnected }
    #expect(path.isConnected)
    #expect(path.now == .zero)
    #expect(path.client.selectedAddress == serverAddress)
    #expect(path.server.selectedAddress == clientAddress)
    #expect(path.serverEvents.map(\.1) == [.selected(clientAddress)])
}

@Test func connectsThroughRetransmissionWhenTheFirstThreeChecksAreLost() {
    var path = ICEPath()
    path.loseNextFromClient = 3
    path.run(until: seconds(5)) { $0.isConnected }
    #expect(path.isConnected)
    #expect(path.sentByClient == 4)
    // Sent at 0, 50, 150 and 350 ms: the RTO doubles from 50 ms.
    #expect(path.clientEvents.first?.0 == seconds(0.35))
}

@Test func failsAfterSevenTransmissionsWithoutAnswer() {
    var path = ICEPath()
    path.cut = true
    path.run(until: seconds(10)) { $0.clientEvents.contains { $0.1 == .failed } }
    #expect(path.clientEvents.map(\.1) == [.failed])
    #expect(path.sentByClient == 7)
    // 0, 50, 150, 350, 750, 1550, 3150 ms, then a last 1.6 s wait.
    #expect(path.clientEvents.first?.0 == seconds(4.75))
    #expect(path.client.nextDeadline() == nil)
}

@Test func checksEveryCandidateAndConnectsOnTheOneThatAnswers() {
    let unreachable = PeerAddress("192.0.2.9:3478")!
    var path = ICEPath(candidates: [unreachable, serverAddress, unreachable])
    path.run(until: seconds(5)) { $0.isConnected }
    #expect(path.isConnected)
    #expect(path.sentByClient == 2)
    let none = ControllingHarness(candidates: [])
    #expect(none.pollEvent() == .failed)
}

@Test func consentChecksKeepBothSidesAliveThenExpireWhenThePathIsCut() {
    var path = ICEPath(seed: 7)
    path.run(until: seconds(120))
    #expect(path.clientEvents.map(\.1) == [.connected(serverAddress)])
    #expect(path.serverEvents.map(\.1) == [.selected(clientAddress)])
    // About one consent check every 5 s: between 120/6 and 120/4.
    #expect((1 + 20)...(1 + 30) ~= path.sentByClient)

    path.cut = true
    let cutAt = path.now
    path.run(until: seconds(200))
    let expiries = path.clientEvents.filter { $0.1 == .consentExpired }
    #expect(expiries.count == 1)
    if let expiry = expiries.first?.0 {
        #expect(expiry > cutAt + .seconds(24) && expiry <= cutAt + .seconds(30))
    }
    #expect(path.serverEvents.filter { $0.1 == .consentExpired }.count == 1)
    #expect(path.client.nextDeadline() == nil)
}

@Test func ignoresResponsesThatAreNotOurs() throws {
    let agent = ControllingHarness(candidates: [serverAddress])
    let request = try STUNMessage(parsing: try #require(agent.pollTransmit()).payload)
    #expect(request.username == "srvUfrag:cliU")
    #expect(request.useCandidate)
    #expect(request.iceControlling == 1)
    #expect(request.hasValidMessageIntegrity(key: Array(serverCredentials.password.utf8)))

    func response(_ id: STUNTransactionID, key: String) throws -> STUNMessage {
        try STUNMessage(parsing: STUNMessage(class: .successResponse, transactionID: id, attributes: [
            .xorMappedAddress(clientAddress),
        ]).encoded(integrityKey: Array(key.utf8), fingerprint: true))
    }
    #expect(try !agent.handle(response(request.transactionID, key: "forged"), from: serverAddress, now: .zero))
    #expect(try !agent.handle(response(.random(), key: serverCredentials.password), from: serverAddress, now: .zero))
    #expect(try !agent.handle(response(request.transactionID, key: serverCredentials.password), from: otherClientAddress,
                              now: .zero))
    #expect(agent.pollEvent() == nil)
    #expect(try agent.handle(response(request.transactionID, key: serverCredentials.password), from: serverAddress,
                             now: .zero))
    #expect(agent.pollEvent() == .connected(serverAddress))
}

@Test func answersAuthenticatedChecksFromAFullPeer() throws {
    let agent = ControllingHarness(candidates: [serverAddress])
    _ = agent.pollTransmit()
    let peerCheck = try STUNMessage(parsing: STUNMessage(class: .request, transactionID: .random(), attributes: [
        .username("cliU:srvUfrag"), .iceControlled(5),
    ]).encoded(integrityKey: Array(clientCredentials.password.utf8), fingerprint: true))
    #expect(agent.handle(peerCheck, from: serverAddress, now: .zero))
    let reply = try STUNMessage(parsing: try #require(agent.pollTransmit()).payload)
    #expect(reply.xorMappedAddress == serverAddress)
    #expect(reply.hasValidMessageIntegrity(key: Array(clientCredentials.password.utf8)))
    var forged = peerCheck
    forged.attributes[0] = .username("cliU:other")
    #expect(!agent.handle(forged, from: serverAddress, now: .zero))
    #expect(agent.pollTransmit() == nil)
}

/// Holds an agent by reference so tests can call its mutating methods inside `#expect`.
final class ControllingHarness {
    var agent: ICEControllingAgent

    init(candidates: [PeerAddress]) {
        agent = ICEControllingAgent(local: clientCredentials, remote: serverCredentials, remoteCandidates: candidates,
                                    tieBreaker: 1, now: .zero)
    }

    func handle(_ message: STUNMessage, from source: PeerAddress, now: Instant) -> Bool {
        agent.handle(message, from: source, now: now)
    }

    func pollTransmit() -> Transmit? { agent.pollTransmit() }
    func pollEvent() -> ICEControllingAgent.Event? { agent.pollEvent() }
}
