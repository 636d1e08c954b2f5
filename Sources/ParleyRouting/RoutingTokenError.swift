/// Why a string is not a routing token (see docs/routing-token.md for the layout).
public enum RoutingTokenError: Error, Sendable, Equatable {
    /// Not 30 (IPv4) or 46 (IPv6) characters.
    case wrongLength(Int)
    /// The character at this offset is not an RFC 8839 §5.4 ice-char.
    case invalidCharacter(offset: Int)
    /// The last character carries non-zero bits past the final byte (RFC 4648 §3.5).
    case nonCanonicalEncoding
    /// A format version this build does not know.
    case unsupportedVersion(UInt8)
    /// The address family nibble is neither 4 nor 6.
    case unknownAddressFamily(UInt8)
    /// The length fits the other address family than the one the token names.
    case lengthDoesNotMatchFamily
}
