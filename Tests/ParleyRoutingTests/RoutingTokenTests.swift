import ParleyRouting
import ParleyTestSupport
import ParleyWire
import Testing

private let keyring = try! RoutingKeyring(keys: [RoutingKey(id: 7, secret: Array(repeating: 0x42, count: 32))], signingKeyID: 7)
private let ipv4Transceiver = PeerAddress("10.1.2.3:40001")!
private let ipv6Transceiver = PeerAddress("[fd00::1:2]:40002")!
private let iceChars = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

@Test(arguments: [(ipv4Transceiver, 30), (ipv6Transceiver, 46)])
func issuedTokenVerifiesAndRoundTrips(transceiver: PeerAddress, expectedLength: Int) throws {
    var generator = SeededGenerator(seed: 1)
    let ufrag = RoutingToken.issue(transceiver: transceiver, cluster: 513, keyring: keyring, using: &generator)
    #expect(ufrag.count == expectedLength)
    #expect(ufrag.allSatisfy(iceChars.contains))
    let token = try #require(RoutingToken.verify(ufrag, keyring: keyring))
    #expect(token.version == RoutingToken.currentVersion)
    #expect(token.keyID == 7)
    #expect(token.cluster == 513)
    #expect(token.transceiver == transceiver)
    #expect(try RoutingToken.decodeUnverified(ufrag).get() == token)
}

@Test func verifiesBytesInPlaceAndTheServerHalfOfAUsername() throws {
    var generator = SeededGenerator(seed: 2)
    let ufrag = RoutingToken.issue(transceiver: ipv4Transceiver, cluster: 1, keyring: keyring, using: &generator)
    let bytes = Array(ufrag.utf8)
    let token = bytes.withUnsafeBytes { RoutingToken.verify($0, keyring: keyring) }
    #expect(token?.transceiver == ipv4Transceiver)
    let username = Array((ufrag + ":abcd").utf8)
    #expect(username.withUnsafeBytes { RoutingToken.verify(username: $0, keyring: keyring) } == token)
    #expect(bytes.withUnsafeBytes { RoutingToken.verify(username: $0, keyring: keyring) } == nil)
}

@Test func nonceMakesEachIssuedUfragDistinct() {
    var generator = SeededGenerator(seed: 3)
    let ufrags = (0..<1_000).map { _ in
        RoutingToken.issue(transceiver: ipv4Transceiver, cluster: 1, keyring: keyring, using: &generator)
    }
    #expect(Set(ufrags).count == 1_000)
}

@Test func everyChangedCharacterFailsVerification() {
    var generator = SeededGenerator(seed: 4)
    for transceiver in [ipv4Transceiver, ipv6Transceiver] {
        let ufrag = Array(RoutingToken.issue(transceiver: transceiver, cluster: 9, keyring: keyring, using: &generator))
        for index in ufrag.indices {
            var tampered = ufrag
            tampered[index] = tampered[index] == "A" ? "B" : "A"
            #expect(RoutingToken.verify(String(tampered), keyring: keyring) == nil, "character \(index)")
        }
    }
}

@Test func otherKeyDoesNotVerify() throws {
    var generator = SeededGenerator(seed: 5)
    let ufrag = RoutingToken.issue(transceiver: ipv4Transceiver, cluster: 1, keyring: keyring, using: &generator)
    let sameIDOtherSecret = try RoutingKeyring(keys: [RoutingKey(id: 7, secret: Array(repeating: 0x43, count: 32))], signingKeyID: 7)
    let otherID = try RoutingKeyring(keys: [RoutingKey(id: 8, secret: Array(repeating: 0x42, count: 32))], signingKeyID: 8)
    #expect(RoutingToken.verify(ufrag, keyring: keyring) != nil)
    #expect(RoutingToken.verify(ufrag, keyring: sameIDOtherSecret) == nil)
    #expect(RoutingToken.verify(ufrag, keyring: otherID) == nil)
}

@Test func rotatedKeyringVerifiesOldAndNewTokens() throws {
    var generator = SeededGenerator(seed: 6)
    let old = RoutingKey(id: 1, secret: Array(repeating: 1, count: 16))
    let new = RoutingKey(id: 2, secret: Array(repeating: 2, count: 32))
    let before = try RoutingKeyring(keys: [old], signingKeyID: 1)
    let during = try RoutingKeyring(keys: [old, new], signingKeyID: 2)
    let after = try RoutingKeyring(keys: [new], signingKeyID: 2)
    let oldToken = RoutingToken.issue(transceiver: ipv4Transceiver, cluster: 1, keyring: before, using: &generator)
    let newToken = RoutingToken.issue(transceiver: ipv4Transceiver, cluster: 1, keyring: during, using: &generator)
    #expect(RoutingToken.verify(newToken, keyring: during)?.keyID == 2)
    #expect(RoutingToken.verify(oldToken, keyring: during)?.keyID == 1)
    #expect(RoutingToken.verify(newToken, keyring: after)?.keyID == 2)
    #expect(RoutingToken.verify(oldToken, keyring: after) == nil)
    #expect(RoutingToken.verify(newToken, keyring: before) == nil)
}

@Test func decodeUnverifiedSaysWhatIsWrong() {
    let zeros = String(repeating: "A", count: 28)
    #expect(RoutingToken.decodeUnverified("abcd") == .failure(.wrongLength(4)))
    #expect(RoutingToken.decodeUnverified(zeros + "A-") == .failure(.invalidCharacter(offset: 29)))
    #expect(RoutingToken.decodeUnverified(zeros + "AB") == .failure(.nonCanonicalEncoding))
    // First byte 0x24: version 2, IPv4.
    #expect(RoutingToken.decodeUnverified("JA" + zeros) == .failure(.unsupportedVersion(2)))
    // 0x15: version 1, family 5.
    #expect(RoutingToken.decodeUnverified("FQ" + zeros) == .failure(.unknownAddressFamily(5)))
    // 0x16: version 1, IPv6, at the IPv4 length.
    #expect(RoutingToken.decodeUnverified("Fg" + zeros) == .failure(.lengthDoesNotMatchFamily))
    // 0x14: version 1, IPv4, every other field zero.
    #expect(RoutingToken.decodeUnverified("FA" + zeros).map(\.transceiver) == .success(PeerAddress("0.0.0.0:0")!))
}

@Test func randomStringsNeverCrashAndNeverVerify() {
    var generator = SeededGenerator(seed: 7)
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/:-=~ é\u{0}")
    var verified = 0
    for round in 0..<10_000 {
        let length = round % 3 == 0 ? (Bool.random(using: &generator) ? 30 : 46) : Int.random(in: 0...60, using: &generator)
        let text = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
        if RoutingToken.verify(text, keyring: keyring) != nil { verified += 1 }
        _ = RoutingToken.decodeUnverified(text)
        let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        if bytes.withUnsafeBytes({ RoutingToken.verify($0, keyring: keyring) }) != nil { verified += 1 }
    }
    #expect(verified == 0)
}

@Test func truncatedAndMutatedTokensNeverVerify() {
    var generator = SeededGenerator(seed: 8)
    for round in 0..<2_000 {
        let transceiver = round.isMultiple(of: 2) ? ipv4Transceiver : ipv6Transceiver
        var bytes = Array(RoutingToken.issue(transceiver: transceiver, cluster: 3, keyring: keyring, using: &generator).utf8)
        if Bool.random(using: &generator) {
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &generator))
        } else {
            let index = Int.random(in: 0..<bytes.count, using: &generator)
            let original = bytes[index]
            repeat { bytes[index] = UInt8.random(in: 0...255, using: &generator) } while bytes[index] == original
        }
        #expect(bytes.withUnsafeBytes { RoutingToken.verify($0, keyring: keyring) } == nil)
    }
}
