/// Why a datagram is not an acceptable STUN message (RFC 8489 §5, §6.3, §14).
public enum STUNParseError: Error, Sendable, Equatable {
    /// Fewer than the 20 bytes of a STUN header.
    case tooShort(byteCount: Int)
    /// The two most significant bits of the first byte are not zero (§5).
    case notSTUN(firstByte: UInt8)
    /// The magic cookie is not 0x2112A442 (§5).
    case badMagicCookie(UInt32)
    /// The header's message length does not match the bytes that follow the header.
    case lengthMismatch(declared: Int, actual: Int)
    /// The message length is not a multiple of four, so the attributes are not padded (§5, §14).
    case lengthNotPadded(Int)
    /// A method other than Binding, the only one Parley speaks.
    case unsupportedMethod(UInt16)
    /// An attribute's declared value length runs past the end of the message.
    case attributeOverrun(type: UInt16)
    /// A known attribute whose value has the wrong size or content (for example a USERNAME
    /// that is not UTF-8, or an address of an unknown family).
    case malformedAttribute(type: UInt16)
    /// An attribute follows FINGERPRINT, which must be last (§14.7).
    case attributeAfterFingerprint
    /// FINGERPRINT does not match the CRC-32 of the message (§14.7).
    case fingerprintMismatch(expected: UInt32, found: UInt32)
}
