import ParleyRouting
import ParleyWire
import Testing

/// The owner a call id names: any transceiver holding the key reads it back; an altered
/// suffix, another id's random part or a foreign key reads nothing.
@Suite struct CallOwnerTests {
    static let keyring = try! RoutingKeyring(keys: [RoutingKey(id: 3, secret: Array("call-owner-test-key-0123456789ab".utf8))], signingKeyID: 3)
    static let random: [UInt8] = Array(0..<12)

    @Test(arguments: ["10.0.1.7:8080", "[2001:db8::7]:8443"])
    func theOwnerIsReadBack(owner text: String) throws {
        let owner = try #require(PeerAddress(text))
        let suffix = CallOwner.suffix(random: Self.random, owner: owner, keyring: Self.keyring)
        #expect(suffix.count == (owner.ip.isIPv4 ? 32 : 56))
        #expect(CallOwner.owner(random: Self.random, suffix: suffix, keyring: Self.keyring) == owner)
        // Another call's random part: the tag no longer matches.
        #expect(CallOwner.owner(random: Array(1...12), suffix: suffix, keyring: Self.keyring) == nil)
        // Any single changed digit is refused.
        var digits = Array(suffix)
        for index in digits.indices {
            let original = digits[index]
            digits[index] = original == "0" ? "1" : "0"
            #expect(CallOwner.owner(random: Self.random, suffix: String(digits), keyring: Self.keyring) == nil)
            digits[index] = original
        }
        let foreign = try RoutingKeyring(keys: [RoutingKey(id: 3, secret: Array("another-cluster-key-0123456789ab".utf8))], signingKeyID: 3)
        #expect(CallOwner.owner(random: Self.random, suffix: suffix, keyring: foreign) == nil)
        for malformed in ["", "zz", String(suffix.dropLast()), suffix.uppercased()] {
            #expect(CallOwner.owner(random: Self.random, suffix: malformed, keyring: Self.keyring) == nil)
        }
    }
}
