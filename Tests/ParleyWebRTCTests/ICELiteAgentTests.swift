import Testing
import ParleyWire
import ParleyWebRTC

let serverCredentials = ICECredentials(ufrag: "srvUfrag", password: "server+password/24chars0")
let clientCredentials = ICECredentials(ufrag: "cliU", password: "client+password/24chars0")
let clientAddress = PeerAddress("10.0.0.2:50000")!
let otherClientAddress = PeerAddress("[2001:db8::2]:50001")!
let serverAddress = PeerAddress("10.0.0.1:3478")!

/// A connectivity check as a browser sends it to the server.
func check(
    username: String? = "srvUfrag:cliU", password: String? = "server+password/24chars0",
    controlling: Bool = true, useCandidate: Bool = false, extra: [STUNAttribute] = []
) -> STUNMessage {
    var attributes: [STUNAttribute] = []
    if let username { attributes.append(.username(username)) }
    attributes.append(.priority(1_862_270_975))
    attributes.append(controlling ? .iceControlling(77) : .iceControlled(77))
    if useCandidate { attributes.append(.useCandidate) }
    attributes += extra
    let message = STUNMessage(class: .request, method: .binding, transactionID: .random(), attributes: attributes)
    // Through the wire, as the agent receives it in production.
    let bytes = message.encoded(integrityKey: password.map { Array($0.utf8) }, fingerprint: true)
    return (try? STUNMessage(parsing: bytes)) ?? message
}

func seconds(_ value: Double) -> Instant {
    .zero + .milliseconds(Int64(value * 1000))
}

@Test func answersAValidCheckWithItsSourceAddressAndIntegrity() throws {
    let agent = LiteHarness(local: serverCredentials, remoteUfrag: "cliU", now: .zero)
    let request = check()
    #expect(agent.handle(request, from: clientAddress, now: seconds(1)) == .answered)
    let transmit = try #require(agent.pollTransmit())
    #expect(agent.pollTransmit() == nil)
    #expect(transmit.destination == clientAddress)
    let response = try STUNMessage(parsing: transmit.payload)
    #expect(response.messageClass == .successResponse)
    #expect(response.transactionID == request.transactionID)
    #expect(response.xorMappedAddress == clientAddress)
    #expect(response.fingerprint != nil)
    #expect(response.hasValidMessageIntegrity(key: Array(serverCredentials.password.utf8)))
    #expect(!response.hasValidMessageIntegrity(key: Array(clientCredentials.password.utf8)))
    #expect(agent.pollEvent() == .selected(clientAddress))
    #expect(agent.selectedAddress == clientAddress)

    #expect(agent.handle(check(), from: otherClientAddress, now: seconds(2)) == .answered)
    let second = try STUNMessage(parsing: try #require(agent.pollTransmit()).payload)
    #expect(second.xorMappedAddress == otherClientAddress)
}

@Test func dropsInvalidChecksWithoutAnyReply() {
    let cases: [(STUNMessage, ICELiteAgent.DropReason)] = [
        (check(username: "otherUfr:cliU"), .wrongUsername),
        (check(username: "srvUfrag:someoneElse"), .wrongUsername),
        (check(username: "srvUfrag"), .wrongUsername),
        (check(username: "srvUfrag:"), .wrongUsername),
        (check(username: nil), .missingUsername),
        (check(password: "wrong+password/24chars00"), .badIntegrity),
        (check(password: nil), .missingIntegrity),
        (check(controlling: false), .roleConflict),
        (check(extra: [.unknown(type: 0x7F00, value: [1])]), .unknownRequiredAttribute),
        (STUNMessage(class: .successResponse, transactionID: .random(), attributes: [.username("srvUfrag:cliU")]),
         .notBindingRequest),
        (STUNMessage(class: .indication, transactionID: .random()), .notBindingRequest),
    ]
    for (message, reason) in cases {
        let agent = LiteHarness(local: serverCredentials, remoteUfrag: "cliU", now: .zero)
        #expect(agent.handle(message, from: clientAddress, now: seconds(1)) == .dropped(reason))
        #expect(agent.pollTransmit() == nil)
        #expect(agent.pollEvent() == nil)
        #expect(agent.selectedAddress == nil)
    }
}

@Test func unknownOptionalAttributesAreFine() {
    let agent = LiteHarness(local: serverCredentials, remoteUfrag: "cliU", now: .zero)
    #expect(agent.handle(check(extra: [.unknown(type: 0xC057, value: [0, 1, 0, 0])]), from: clientAddress, now: .zero) == .answered)
}

@Test func learnsTheRemoteUfragFromTheFirstValidCheck() {
    let agent = LiteHarness(local: serverCredentials, remoteUfrag: nil, now: .zero)
    #expect(agent.handle(check(username: "srvUfrag:first", password: "bad+password/24chars0000"), from: clientAddress,
                         now: seconds(1)) == .dropped(.badIntegrity))
    #expect(agent.remoteUfrag == nil)
    #expect(agent.handle(check(username: "srvUfrag:first"), from: clientAddress, now: seconds(1)) == .answered)
    #expect(agent.remoteUfrag == "first")
    #expect(agent.handle(check(username: "srvUfrag:second"), from: clientAddress, now: seconds(2)) == .dropped(.wrongUsername))
}

@Test func firstCheckSelectsAndUseCandidateFromElsewhereReselects() {
    let agent = LiteHarness(local: serverCredentials, remoteUfrag: "cliU", now: .zero)
    #expect(agent.handle(check(), from: clientAddress, now: seconds(1)) == .answered)
    #expect(agent.pollEvent() == .selected(clientAddress))
    #expect(agent.handle(check(), from: otherClientAddress, now: seconds(1)) == .answered)
    #expect(agent.pollEvent() == nil)
    #expect(agent.handle(check(useCandidate: true), from: clientAddress, now: seconds(1)) == .answered)
    #expect(agent.pollEvent() == nil)
    #expect(agent.handle(check(useCandidate: true), from: otherClientAddress, now: seconds(2)) == .answered)
    #expect(agent.pollEvent() == .selected(otherClientAddress))
    #expect(agent.selectedAddress == otherClientAddress)
}

@Test func consentExpiresThirtySecondsAfterStartWithoutAnyCheck() {
    let agent = LiteHarness(local: serverCredentials, remoteUfrag: "cliU", now: seconds(100))
    #expect(agent.nextDeadline() == seconds(130))
    agent.handleTimeout(now: seconds(129.999))
    #expect(agent.pollEvent() == nil)
    agent.handleTimeout(now: seconds(130))
    #expect(agent.pollEvent() == .consentExpired)
    agent.handleTimeout(now: seconds(131))
    #expect(agent.pollEvent() == nil)
    #expect(agent.nextDeadline() == nil)
    #expect(agent.handle(check(), from: clientAddress, now: seconds(131)) == .dropped(.consentExpired))
    #expect(agent.pollTransmit() == nil)
}

@Test func checksFromTheSelectedAddressRefreshConsent() {
    let agent = LiteHarness(local: serverCredentials, remoteUfrag: "cliU", now: .zero)
    #expect(agent.handle(check(), from: clientAddress, now: seconds(10)) == .answered)
    #expect(agent.nextDeadline() == seconds(40))
    #expect(agent.handle(check(), from: clientAddress, now: seconds(25)) == .answered)
    #expect(agent.nextDeadline() == seconds(55))
    // Another address (not nominated) and invalid checks do not keep consent alive.
    #expect(agent.handle(check(), from: otherClientAddress, now: seconds(50)) == .answered)
    #expect(agent.handle(check(password: nil), from: clientAddress, now: seconds(51)) == .dropped(.missingIntegrity))
    #expect(agent.nextDeadline() == seconds(55))
    _ = agent.pollEvent()
    agent.handleTimeout(now: seconds(54.9))
    #expect(agent.pollEvent() == nil)
    agent.handleTimeout(now: seconds(55))
    #expect(agent.pollEvent() == .consentExpired)
}

@Test func randomCredentialsUseIceCharacters() {
    let credentials = ICECredentials.random()
    #expect(credentials.ufrag.count == 8)
    #expect(credentials.password.count == 24)
    let allowed = Set(ICECredentials.iceCharacters)
    #expect((credentials.ufrag + credentials.password).allSatisfy(allowed.contains))
    #expect(ICECredentials.random() != credentials)
}

/// Holds an agent by reference so tests can call its mutating methods inside `#expect`.
final class LiteHarness {
    var agent: ICELiteAgent

    init(local: ICECredentials, remoteUfrag: String?, now: Instant) {
        agent = ICELiteAgent(local: local, remoteUfrag: remoteUfrag, now: now)
    }

    func handle(_ message: STUNMessage, from source: PeerAddress, now: Instant) -> ICELiteAgent.Verdict {
        agent.handle(message, from: source, now: now)
    }

    func handleTimeout(now: Instant) { agent.handleTimeout(now: now) }
    func pollTransmit() -> Transmit? { agent.pollTransmit() }
    func pollEvent() -> ICELiteAgent.Event? { agent.pollEvent() }
    func nextDeadline() -> Instant? { agent.nextDeadline() }
    var selectedAddress: PeerAddress? { agent.selectedAddress }
    var remoteUfrag: String? { agent.remoteUfrag }
}
