/// Why bytes are not an acceptable SCTP packet or chunk (RFC 9260 §3, RFC 3758 §3.2,
/// RFC 6525 §3–§4).
public enum SCTPParseError: Error, Sendable, Equatable {
    /// Fewer than the 12 bytes of the common header (§3.1).
    case packetTooShort(byteCount: Int)
    /// The CRC-32c in the common header does not match the packet (§6.8).
    case checksumMismatch(expected: UInt32, found: UInt32)
    /// A chunk header is cut short, or its length is below 4 or runs past the packet (§3.2).
    case chunkOverrun(type: UInt8)
    /// A chunk's value is shorter than its fixed fields require.
    case chunkTooShort(type: UInt8, length: Int)
    /// A chunk's variable part does not have the size its counts declare (SACK, FORWARD-TSN).
    case chunkLengthMismatch(type: UInt8)
    /// A DATA chunk without user data (§6.2: "No User Data").
    case emptyUserData
    /// An INIT or INIT-ACK with a zero Initiate Tag or zero stream count (§3.3.2).
    case invalidInitiation(reason: String)
    /// A parameter or error cause whose length is below 4 or runs past its chunk (§3.2.1).
    case parameterOverrun(type: UInt16)
    /// A known parameter whose value has the wrong size.
    case malformedParameter(type: UInt16)
}
