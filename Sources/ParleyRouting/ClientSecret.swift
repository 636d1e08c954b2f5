import ParleyWire

/// An ephemeral client secret (`ek_...`), as the OpenAI Realtime API's
/// `POST /v1/realtime/client_secrets` hands out: an application server mints one with its
/// API key and gives it to a browser, which creates calls with it until it expires, so no
/// long-lived key ever reaches a page.
///
/// Self-contained and signed with the routing keyring (HMAC-SHA256, RFC 2104, over a label
/// no routing token starts with, so the two uses of a key never share a message), so every
/// transceiver of a cluster verifies a secret any other minted, with no shared state; keys
/// rotate as routing keys do. Not single-use: valid for any number of calls until
/// `expiresAt` (one-time use would need a cluster-wide store).
///
/// Wire form: `ek_` + unpadded standard base64 (RFC 4648 §4; a valid RFC 6750 token68) of
/// version (1) | key id (1) | issued at (8) | expires at (8) | longest call in seconds (4,
/// 0 for no limit) | the session settings as JSON (the rest) | tag (16).
public struct ClientSecret: Sendable, Equatable {
    public static let prefix = "ek_"
    /// The lifetimes a secret may be minted with, in seconds (OpenAI's bounds).
    public static let lifetimeRange: ClosedRange<Int64> = 10...7_200
    public static let defaultLifetime: Int64 = 600
    /// Session settings larger than this do not fit in a secret (it travels in a header);
    /// longer instructions go in the call's own `session` part or a `session.update`.
    public static let maxSessionBytes = 6_144

    static let version: UInt8 = 1
    static let tagLength = 16
    static let headerLength = 22
    static let label = Array("parley client secret\u{0}".utf8)

    /// Unix seconds when it was minted.
    public var issuedAt: Int64
    /// Unix seconds after which it is refused.
    public var expiresAt: Int64
    /// Calls made with it end after this many seconds; nil for no limit.
    public var maxCallSeconds: UInt32?
    /// The session settings calls made with it start with (a JSON object, UTF-8).
    public var session: [UInt8]

    public init(issuedAt: Int64, expiresAt: Int64, maxCallSeconds: UInt32? = nil, session: [UInt8]) {
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.maxCallSeconds = maxCallSeconds
        self.session = session
    }

    /// The `ek_...` text, signed with the keyring's signing key.
    public func encoded(keyring: RoutingKeyring) -> String {
        var bytes: [UInt8] = [Self.version, keyring.signingKeyID]
        bytes.appendBigEndian(UInt64(bitPattern: issuedAt))
        bytes.appendBigEndian(UInt64(bitPattern: expiresAt))
        bytes.appendBigEndian(maxCallSeconds ?? 0)
        bytes += session
        bytes += keyring.signer.tag(label: Self.label, message: bytes, length: Self.tagLength)
        return Self.prefix + bytes.withUnsafeBytes { Base64.encode($0) }
    }

    /// Reads and checks a secret: well formed, signed by a key of `keyring`, not expired at
    /// `now` (Unix seconds).
    public init(verifying text: some StringProtocol, keyring: RoutingKeyring, now: Int64) throws(ClientSecretError) {
        guard text.hasPrefix(Self.prefix) else { throw .malformed }
        let symbols = Array(text.utf8.dropFirst(Self.prefix.count))
        guard let length = Base64.decodedLength(ofCharacters: symbols.count),
              length >= Self.headerLength + Self.tagLength,
              length <= Self.headerLength + Self.maxSessionBytes + Self.tagLength else { throw .malformed }
        var bytes = [UInt8](repeating: 0, count: length)
        let decoded = symbols.withUnsafeBytes { text in
            bytes.withUnsafeMutableBytes { Base64.decode(text, into: $0) }
        }
        guard case .success = decoded, bytes[0] == Self.version else { throw .malformed }
        guard let authenticator = keyring.authenticator(for: bytes[1]) else { throw .unknownKey(bytes[1]) }
        let body = Array(bytes[..<(length - Self.tagLength)])
        guard authenticator.verify(tag: bytes[(length - Self.tagLength)...], label: Self.label, message: body) else { throw .forged }
        var header = BigEndianReader(body, from: 2)
        guard let issued = header.read(UInt64.self), let expires = header.read(UInt64.self),
              let limit = header.read(UInt32.self) else { throw .malformed }
        issuedAt = Int64(bitPattern: issued)
        expiresAt = Int64(bitPattern: expires)
        maxCallSeconds = limit == 0 ? nil : limit
        session = Array(body[Self.headerLength...])
        guard now <= expiresAt else { throw .expired(at: expiresAt) }
    }

}

/// Why a client secret was refused; each says so in the 401 a caller gets.
public enum ClientSecretError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not `ek_` and canonical base64 of a secret's layout.
    case malformed
    /// Signed with a key id this keyring does not hold (retired, or another cluster's).
    case unknownKey(UInt8)
    /// The tag does not match: altered or made up.
    case forged
    /// Past its expiry (Unix seconds).
    case expired(at: Int64)

    public var description: String {
        switch self {
        case .malformed: return "the client secret is malformed"
        case .unknownKey(let id): return "the client secret was signed with key \(id), which this cluster does not hold"
        case .forged: return "the client secret's signature does not verify"
        case .expired(let at): return "the client secret expired at \(at) (Unix time); mint a new one"
        }
    }
}
