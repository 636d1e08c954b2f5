import ParleyRouting
import Testing

/// Ephemeral client secrets: what one transceiver mints, any other holding the key verifies;
/// expired, altered, foreign and malformed secrets are told apart.
@Suite struct ClientSecretTests {
    static let keyA = RoutingKey(id: 1, secret: Array("client-secret-test-key-number-a!".utf8))
    static let keyB = RoutingKey(id: 2, secret: Array("client-secret-test-key-number-b!".utf8))

    @Test func aSecretVerifiesWithItsSessionAndLimitUntilItExpires() throws {
        let keyring = try RoutingKeyring(keys: [Self.keyA], signingKeyID: 1)
        let session = Array(#"{"instructions":"Be brief."}"#.utf8)
        let text = ClientSecret(issuedAt: 1_000, expiresAt: 1_600, maxCallSeconds: 90, session: session).encoded(keyring: keyring)
        #expect(text.hasPrefix("ek_"))
        let read = try ClientSecret(verifying: text, keyring: keyring, now: 1_600)
        #expect(read == ClientSecret(issuedAt: 1_000, expiresAt: 1_600, maxCallSeconds: 90, session: session))
        #expect(throws: ClientSecretError.expired(at: 1_600)) { try ClientSecret(verifying: text, keyring: keyring, now: 1_601) }
        let unlimited = ClientSecret(issuedAt: 0, expiresAt: 10, session: Array("{}".utf8)).encoded(keyring: keyring)
        #expect(try ClientSecret(verifying: unlimited, keyring: keyring, now: 5).maxCallSeconds == nil)
    }

    @Test func anotherTransceiverWithTheKeyVerifiesAcrossRotation() throws {
        let minter = try RoutingKeyring(keys: [Self.keyA], signingKeyID: 1)
        let text = ClientSecret(issuedAt: 0, expiresAt: 600, session: Array("{}".utf8)).encoded(keyring: minter)
        // The next key is deployed everywhere and signs; secrets of the old key still verify.
        let rotated = try RoutingKeyring(keys: [Self.keyA, Self.keyB], signingKeyID: 2)
        #expect(try ClientSecret(verifying: text, keyring: rotated, now: 1).expiresAt == 600)
        // Once the old key is retired, its secrets are refused by key id.
        let retired = try RoutingKeyring(keys: [Self.keyB], signingKeyID: 2)
        #expect(throws: ClientSecretError.unknownKey(1)) { try ClientSecret(verifying: text, keyring: retired, now: 1) }
        // The same id with a different secret: the signature fails.
        let impostor = try RoutingKeyring(keys: [RoutingKey(id: 1, secret: Array("an-impostor-key-with-the-same-id".utf8))], signingKeyID: 1)
        #expect(throws: ClientSecretError.forged) { try ClientSecret(verifying: text, keyring: impostor, now: 1) }
    }

    @Test func alteredOrMalformedSecretsAreRefused() throws {
        let keyring = try RoutingKeyring(keys: [Self.keyA], signingKeyID: 1)
        let text = ClientSecret(issuedAt: 0, expiresAt: 600, session: Array(#"{"voice":"a"}"#.utf8)).encoded(keyring: keyring)
        // Every single-symbol change that still decodes is caught by the tag.
        var symbols = Array(text.utf8)
        for index in 3..<symbols.count - 1 {
            let original = symbols[index]
            symbols[index] = original == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let altered = String(decoding: symbols, as: UTF8.self)
            #expect(throws: (any Error).self) { try ClientSecret(verifying: altered, keyring: keyring, now: 1) }
            symbols[index] = original
        }
        for malformed in ["", "ek_", "sk_" + text.dropFirst(3), "ek_!!!!", String(text.dropLast(5)), "ek_" + String(repeating: "A", count: 9_000)] {
            #expect(throws: ClientSecretError.malformed) { try ClientSecret(verifying: malformed, keyring: keyring, now: 1) }
        }
    }
}
