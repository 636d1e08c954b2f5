/// One shared secret that signs and verifies routing tokens, named by a one-byte key id so
/// keys can rotate while tokens signed with the previous key still verify.
public struct RoutingKey: Sendable {
    /// Carried in every token so a verifier picks the right secret.
    public let id: UInt8
    /// At least 16 bytes (`RoutingKeyring` rejects shorter ones); 32 random bytes recommended.
    public let secret: [UInt8]

    public init(id: UInt8, secret: [UInt8]) {
        self.id = id
        self.secret = secret
    }
}
