import Crypto
import ParleyWire

/// The keys a relay or transceiver knows: tokens signed with any of them verify, new tokens
/// are signed with `signingKeyID`. Rotation: deploy the new key to every verifier first,
/// then switch the signers' `signingKeyID`, then retire the old key once its sessions ended.
public struct RoutingKeyring: Sendable {
    /// The key that signs new tokens.
    public let signingKeyID: UInt8
    /// The ids of every key that verifies, in the order given.
    public var keyIDs: [UInt8] { authenticators.map(\.id) }

    let authenticators: [RoutingKeyAuthenticator]
    let signer: RoutingKeyAuthenticator

    /// Throws when `keys` is empty, a secret is shorter than 16 bytes, two keys share an id,
    /// or `signingKeyID` names none of them.
    public init(keys: [RoutingKey], signingKeyID: UInt8) throws {
        guard !keys.isEmpty else { throw RoutingKeyringError.noKeys }
        var authenticators: [RoutingKeyAuthenticator] = []
        for key in keys {
            guard key.secret.count >= 16 else {
                throw RoutingKeyringError.secretTooShort(keyID: key.id, length: key.secret.count)
            }
            guard !authenticators.contains(where: { $0.id == key.id }) else {
                throw RoutingKeyringError.duplicateKeyID(key.id)
            }
            authenticators.append(RoutingKeyAuthenticator(key))
        }
        guard let signer = authenticators.first(where: { $0.id == signingKeyID }) else {
            throw RoutingKeyringError.signingKeyNotFound(signingKeyID)
        }
        self.authenticators = authenticators
        self.signer = signer
        self.signingKeyID = signingKeyID
    }

    /// Loads `ID:BASE64SECRET` entries (id in decimal, secret in standard base64, padding
    /// optional), separated by commas or newlines, as found in a keys file or the
    /// `PARLEY_ROUTING_KEYS` environment value. Blank entries and lines starting with `#` are
    /// skipped. The first key signs unless an entry `signing=ID` names another.
    public static func load(text: String) throws -> RoutingKeyring {
        var keys: [RoutingKey] = []
        var signingKeyID: UInt8?
        let entries = text.split(omittingEmptySubsequences: false) { $0 == "," || $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
        for (offset, rawEntry) in entries.enumerated() {
            let index = offset + 1
            let entry = rawEntry.trimmingASCIIWhitespace()
            if entry.isEmpty || entry.hasPrefix("#") { continue }
            if entry.hasPrefix("signing=") {
                guard let id = UInt8(entry.dropFirst("signing=".count)) else {
                    throw RoutingKeyringError.invalidKeyID(index: index)
                }
                signingKeyID = id
                continue
            }
            guard let colon = entry.firstIndex(of: ":") else { throw RoutingKeyringError.malformedEntry(index: index) }
            guard let id = UInt8(entry[..<colon]) else { throw RoutingKeyringError.invalidKeyID(index: index) }
            guard let secret = Base64.decodePadded(entry[entry.index(after: colon)...].utf8) else {
                throw RoutingKeyringError.invalidSecretEncoding(keyID: id)
            }
            keys.append(RoutingKey(id: id, secret: secret))
        }
        guard let first = keys.first else { throw RoutingKeyringError.noKeys }
        return try RoutingKeyring(keys: keys, signingKeyID: signingKeyID ?? first.id)
    }

    /// The secret of the loopback demo: key id 0, the 32 ASCII bytes
    /// `parley-development-routing-key-0` (`0:cGFybGV5LWRldmVsb3BtZW50LXJvdXRpbmcta2V5LTA=`).
    /// Public knowledge: never use it where a relay is reachable from untrusted clients.
    public static func development() -> RoutingKeyring {
        let key = RoutingKey(id: 0, secret: Array("parley-development-routing-key-0".utf8))
        do {
            return try RoutingKeyring(keys: [key], signingKeyID: 0)
        } catch {
            fatalError("the development routing key is valid by construction: \(error)")
        }
    }

    func authenticator(for keyID: UInt8) -> RoutingKeyAuthenticator? {
        for authenticator in authenticators where authenticator.id == keyID {
            return authenticator
        }
        return nil
    }
}

/// HMAC-SHA256 (RFC 2104) keyed once, copied per message so each MAC skips the key schedule.
///
/// `@unchecked Sendable`: swift-crypto's `HMAC` is a value type whose storage is copied on
/// write, and this wrapper never mutates its stored copy, so sharing it across threads is safe.
struct RoutingKeyAuthenticator: @unchecked Sendable {
    let id: UInt8
    private let keyed: HMAC<SHA256>

    init(_ key: RoutingKey) {
        id = key.id
        keyed = HMAC<SHA256>(key: SymmetricKey(data: key.secret))
    }

    /// Writes the first `tag.count` (at most 32) bytes of HMAC-SHA256(`message`) into `tag`.
    func writeTag(of message: UnsafeRawBufferPointer, into tag: UnsafeMutableRawBufferPointer) {
        var hmac = keyed
        hmac.update(data: message)
        let code = hmac.finalize()
        code.withUnsafeBytes { full in
            for index in 0..<min(tag.count, full.count) {
                tag[index] = full[index]
            }
        }
    }

    /// The first `length` bytes of HMAC-SHA256 over `label` then `message`: a MAC for one
    /// use of the key (client secrets, call owners) that shares no message with another use,
    /// routing tokens included.
    func tag(label: [UInt8], message: [UInt8], length: Int) -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: length)
        (label + message).withUnsafeBytes { input in
            tag.withUnsafeMutableBytes { writeTag(of: input, into: $0) }
        }
        return tag
    }

    /// Checks in constant time a tag made by `tag(label:message:length:)`.
    func verify(tag: some Collection<UInt8>, label: [UInt8], message: [UInt8]) -> Bool {
        let tag = Array(tag)
        return (label + message).withUnsafeBytes { input in
            tag.withUnsafeBytes { verify(tag: $0, of: input) }
        }
    }

    /// Compares in constant time: the truncated HMAC of `message` against `tag`.
    func verify(tag: UnsafeRawBufferPointer, of message: UnsafeRawBufferPointer) -> Bool {
        var hmac = keyed
        hmac.update(data: message)
        let code = hmac.finalize()
        return code.withUnsafeBytes { full in
            guard tag.count <= full.count else { return false }
            var difference: UInt8 = 0
            for index in 0..<tag.count {
                difference |= full[index] ^ tag[index]
            }
            return difference == 0
        }
    }
}

extension Substring {
    func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else {
            return self[endIndex...]
        }
        return self[start...end]
    }
}
