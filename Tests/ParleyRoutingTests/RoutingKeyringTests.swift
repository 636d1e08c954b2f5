import ParleyRouting
import ParleyTestSupport
import ParleyWire
import Testing

@Test func loadsEntriesSeparatedByCommasOrNewlines() throws {
    // "0123456789abcdef" and "fedcba9876543210fedcba9876543210" in base64, with and without padding.
    let text = """
    # routing keys
    3:MDEyMzQ1Njc4OWFiY2RlZg==

    4:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA
    """
    let fromFile = try RoutingKeyring.load(text: text)
    #expect(fromFile.keyIDs == [3, 4])
    #expect(fromFile.signingKeyID == 3)
    let fromEnvironment = try RoutingKeyring.load(
        text: "3:MDEyMzQ1Njc4OWFiY2RlZg==, 4:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA,signing=4")
    #expect(fromEnvironment.signingKeyID == 4)

    var generator = SeededGenerator(seed: 1)
    let ufrag = RoutingToken.issue(transceiver: PeerAddress("10.0.0.1:1")!, cluster: 0, keyring: fromEnvironment, using: &generator)
    let secret4 = try RoutingKeyring(keys: [RoutingKey(id: 4, secret: Array("fedcba9876543210fedcba9876543210".utf8))], signingKeyID: 4)
    let secret3 = try RoutingKeyring(keys: [RoutingKey(id: 4, secret: Array("0123456789abcdef".utf8))], signingKeyID: 4)
    #expect(RoutingToken.verify(ufrag, keyring: secret4)?.keyID == 4)
    #expect(RoutingToken.verify(ufrag, keyring: secret3) == nil)
}

@Test func rejectsBadKeyringsWithoutEchoingSecrets() {
    #expect(throws: RoutingKeyringError.noKeys) { try RoutingKeyring.load(text: " \n# nothing\n") }
    #expect(throws: RoutingKeyringError.malformedEntry(index: 1)) { try RoutingKeyring.load(text: "MDEyMzQ1Njc4OWFiY2RlZg==") }
    #expect(throws: RoutingKeyringError.invalidKeyID(index: 1)) { try RoutingKeyring.load(text: "256:MDEyMzQ1Njc4OWFiY2RlZg==") }
    #expect(throws: RoutingKeyringError.invalidSecretEncoding(keyID: 1)) { try RoutingKeyring.load(text: "1:not base64!") }
    #expect(throws: RoutingKeyringError.secretTooShort(keyID: 1, length: 3)) { try RoutingKeyring.load(text: "1:YWJj") }
    #expect(throws: RoutingKeyringError.duplicateKeyID(1)) {
        try RoutingKeyring.load(text: "1:MDEyMzQ1Njc4OWFiY2RlZg,1:MDEyMzQ1Njc4OWFiY2RlZg")
    }
    #expect(throws: RoutingKeyringError.signingKeyNotFound(9)) { try RoutingKeyring.load(text: "1:MDEyMzQ1Njc4OWFiY2RlZg,signing=9") }
    #expect(throws: RoutingKeyringError.invalidKeyID(index: 2)) { try RoutingKeyring.load(text: "1:MDEyMzQ1Njc4OWFiY2RlZg,signing=x") }
    #expect(throws: RoutingKeyringError.noKeys) { try RoutingKeyring(keys: [], signingKeyID: 0) }
}

@Test func developmentKeyringIsTheDocumentedKey() throws {
    let documented = try RoutingKeyring.load(text: "0:cGFybGV5LWRldmVsb3BtZW50LXJvdXRpbmcta2V5LTA=")
    var generator = SeededGenerator(seed: 2)
    let ufrag = RoutingToken.issue(transceiver: PeerAddress("127.0.0.1:3479")!, cluster: 0, keyring: .development(), using: &generator)
    #expect(RoutingToken.verify(ufrag, keyring: documented)?.transceiver == PeerAddress("127.0.0.1:3479")!)
}
