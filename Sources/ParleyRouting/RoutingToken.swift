import Crypto
import ParleyWire

/// The signed routing token a transceiver puts in its ICE ufrag (RFC 8839 §5.4) so a
/// stateless relay can route a flow's first STUN Binding request (RFC 8445 §7.2.2, USERNAME
/// `serverUfrag:clientUfrag`) to the transceiver that owns the session, with no lookup.
///
/// Layout, big-endian, then unpadded standard base64 (docs/routing-token.md):
/// `version<<4 | family` (1), key id (1), cluster (2), address (4 or 16), port (2),
/// nonce (4), HMAC-SHA256 over all preceding bytes truncated to 8 bytes (RFC 2104 §5).
/// IPv4 tokens are 22 bytes, 30 characters; IPv6 tokens 34 bytes, 46 characters.
public struct RoutingToken: Sendable, Equatable {
    /// The format this build issues and accepts.
    public static let currentVersion: UInt8 = 1
    /// Bytes of the truncated MAC.
    public static let macLength = 8
    /// Encoded length of a token naming an IPv4 transceiver.
    public static let ipv4EncodedLength = 30
    /// Encoded length of a token naming an IPv6 transceiver.
    public static let ipv6EncodedLength = 46

    /// Format version, 4 bits.
    public var version: UInt8
    /// The keyring key that signed the token.
    public var keyID: UInt8
    /// The cluster that holds `transceiver`; a relay of another cluster forwards over the backbone.
    public var cluster: UInt16
    /// The internal UDP address of the transceiver (shard) that owns the session.
    public var transceiver: PeerAddress
    /// Random bits that make each session's ufrag distinct.
    public var nonce: UInt32

    public init(version: UInt8 = RoutingToken.currentVersion, keyID: UInt8, cluster: UInt16,
                transceiver: PeerAddress, nonce: UInt32) {
        self.version = version
        self.keyID = keyID
        self.cluster = cluster
        self.transceiver = transceiver
        self.nonce = nonce
    }

    /// Issues a ufrag naming `transceiver` in `cluster`, signed with the keyring's signing key
    /// and made unique by a nonce drawn from `generator`.
    public static func issue(transceiver: PeerAddress, cluster: UInt16, keyring: RoutingKeyring,
                             using generator: inout some RandomNumberGenerator) -> String {
        let token = RoutingToken(keyID: keyring.signingKeyID, cluster: cluster, transceiver: transceiver,
                                 nonce: UInt32(truncatingIfNeeded: generator.next()))
        return token.encoded(signedBy: keyring.signer)
    }

    /// Verifies the bytes of a ufrag (the part of USERNAME before `:`) in place, without
    /// allocating on the caller's side: nil unless it decodes, names a key of `keyring`,
    /// and its MAC matches (compared in constant time). swift-crypto copies its HMAC state
    /// on write, which costs two small heap allocations inside each MAC computation.
    public static func verify(_ ufrag: UnsafeRawBufferPointer, keyring: RoutingKeyring) -> RoutingToken? {
        guard ufrag.count == ipv4EncodedLength || ufrag.count == ipv6EncodedLength else { return nil }
        return withUnsafeTemporaryAllocation(byteCount: 36, alignment: 8) { buffer -> RoutingToken? in
            guard case .success(let length) = Base64.decode(ufrag, into: buffer) else { return nil }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[..<length])
            guard case .success(let token) = decodeFields(bytes),
                  let authenticator = keyring.authenticator(for: token.keyID) else { return nil }
            let macStart = length - macLength
            let message = UnsafeRawBufferPointer(rebasing: bytes[..<macStart])
            let tag = UnsafeRawBufferPointer(rebasing: bytes[macStart...])
            return authenticator.verify(tag: tag, of: message) ? token : nil
        }
    }

    /// Verifies a ufrag given as a string; see `verify(_:keyring:)` for bytes.
    public static func verify(_ ufrag: String, keyring: RoutingKeyring) -> RoutingToken? {
        var ufrag = ufrag
        return ufrag.withUTF8 { verify(UnsafeRawBufferPointer($0), keyring: keyring) }
    }

    /// Verifies the server ufrag inside a STUN USERNAME value (`serverUfrag:clientUfrag`,
    /// RFC 8445 §7.2.2), as `STUNPeek.username(in:)` finds it in a datagram.
    public static func verify(username: UnsafeRawBufferPointer, keyring: RoutingKeyring) -> RoutingToken? {
        guard let colon = username.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return verify(UnsafeRawBufferPointer(rebasing: username[..<colon]), keyring: keyring)
    }

    /// Decodes the fields without checking the MAC, for diagnostics such as `parley token inspect`.
    public static func decodeUnverified(_ ufrag: String) -> Result<RoutingToken, RoutingTokenError> {
        var ufrag = ufrag
        return ufrag.withUTF8 { text -> Result<RoutingToken, RoutingTokenError> in
            guard text.count == ipv4EncodedLength || text.count == ipv6EncodedLength else {
                return .failure(.wrongLength(text.count))
            }
            return withUnsafeTemporaryAllocation(byteCount: 36, alignment: 8) { buffer in
                switch Base64.decode(UnsafeRawBufferPointer(text), into: buffer) {
                case .failure(.invalidSymbol(let offset)):
                    return .failure(.invalidCharacter(offset: offset))
                case .failure(.nonZeroTrailingBits):
                    return .failure(.nonCanonicalEncoding)
                case .failure(.impossibleLength):
                    return .failure(.wrongLength(text.count))
                case .success(let length):
                    return decodeFields(UnsafeRawBufferPointer(rebasing: buffer[..<length]))
                }
            }
        }
    }

    /// Reads the fields of a decoded token (MAC included in `bytes`, not checked).
    static func decodeFields(_ bytes: UnsafeRawBufferPointer) -> Result<RoutingToken, RoutingTokenError> {
        guard bytes.count == 22 || bytes.count == 34 else { return .failure(.wrongLength(bytes.count)) }
        let version = bytes[0] >> 4
        guard version == currentVersion else { return .failure(.unsupportedVersion(version)) }
        let family = bytes[0] & 0x0F
        let addressLength: Int
        switch family {
        case 4: addressLength = 4
        case 6: addressLength = 16
        default: return .failure(.unknownAddressFamily(family))
        }
        guard bytes.count == 4 + addressLength + 6 + macLength else { return .failure(.lengthDoesNotMatchFamily) }
        func read<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
            var value: T = 0
            for index in offset..<(offset + MemoryLayout<T>.size) {
                value = value << 8 | T(bytes[index])
            }
            return value
        }
        let ip: IPAddress = family == 4
            ? .v4(read(UInt32.self, at: 4))
            : .v6(IPv6Bytes(high: read(UInt64.self, at: 4), low: read(UInt64.self, at: 12)))
        let portOffset = 4 + addressLength
        return .success(RoutingToken(
            version: version, keyID: bytes[1], cluster: read(UInt16.self, at: 2),
            transceiver: PeerAddress(ip: ip, port: read(UInt16.self, at: portOffset)),
            nonce: read(UInt32.self, at: portOffset + 2)))
    }

    /// The fields before the MAC, in wire order.
    var fieldBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(34)
        bytes.append(version << 4 | (transceiver.ip.isIPv4 ? 4 : 6))
        bytes.append(keyID)
        bytes.appendBigEndian(cluster)
        bytes += transceiver.ip.bytes
        bytes.appendBigEndian(transceiver.port)
        bytes.appendBigEndian(nonce)
        return bytes
    }

    func encoded(signedBy authenticator: RoutingKeyAuthenticator) -> String {
        var bytes = fieldBytes
        let messageLength = bytes.count
        bytes += [UInt8](repeating: 0, count: Self.macLength)
        bytes.withUnsafeMutableBytes { all in
            authenticator.writeTag(of: UnsafeRawBufferPointer(rebasing: all[..<messageLength]),
                                   into: UnsafeMutableRawBufferPointer(rebasing: all[messageLength...]))
        }
        return bytes.withUnsafeBytes { Base64.encode($0) }
    }
}
