/// Why bytes are not an acceptable SCTP packet or chunk (RFC 9260 §3, RFC 3758 §3.2,
/// RFC 6525 §3–§4).
public enum SCTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fewer than the 12 bytes of the common header (§3.1).
    case packetTooShort(byteCount: Int)
    /// The CRC-32c in the common header does not match the packet (§6.8).
    case checksumMismatch(expected: UInt32, found: UInt32)
    /// A chunk header is cut short, or its length is below 4 or runs past the packet (§3.2).
    case chunkOverrun(type: UInt8)
    /// Bytes that must hold one chunk of a given type hold another, such as an `a=sctp-init`
    /// that is not an INIT (draft-hancke-tsvwg-snap-00).
    case unexpectedChunkType(expected: UInt8, found: UInt8)
    /// A chunk's value is shorter than its fixed fields require.
    case chunkTooShort(type: UInt8, length: Int)
    /// A chunk's variable part does not have the size its counts declare (SACK, FORWARD-TSN),
    /// or more than padding follows a chunk that stands alone.
    case chunkLengthMismatch(type: UInt8)
    /// A DATA chunk without user data (§6.2: "No User Data").
    case emptyUserData
    /// An INIT or INIT-ACK with a zero Initiate Tag or zero stream count (§3.3.2).
    case invalidInitiation(reason: String)
    /// A parameter or error cause whose length is below 4 or runs past its chunk (§3.2.1).
    case parameterOverrun(type: UInt16)
    /// A known parameter whose value has the wrong size.
    case malformedParameter(type: UInt16)

    public var description: String {
        switch self {
        case .packetTooShort(let count): "\(count) bytes are shorter than the 12-byte common header (RFC 9260 §3.1)"
        case .checksumMismatch: "the CRC-32c does not match the packet (RFC 9260 §6.8)"
        case .chunkOverrun(let type): "chunk type \(type) is cut short: its length is below 4 or runs past the bytes (RFC 9260 §3.2)"
        case .unexpectedChunkType(let expected, let found): "the chunk has type \(found) where type \(expected) belongs"
        case .chunkTooShort(let type, let length): "chunk type \(type) has \(length) value bytes, fewer than its fixed fields need"
        case .chunkLengthMismatch(let type): "chunk type \(type) does not have the size its length and counts declare"
        case .emptyUserData: "a DATA chunk carries no user data (RFC 9260 §6.2)"
        case .invalidInitiation(let reason): "the INIT is invalid: \(reason) (RFC 9260 §3.3.2)"
        case .parameterOverrun(let type): "parameter type \(type) is cut short: its length is below 4 or runs past its chunk (RFC 9260 §3.2.1)"
        case .malformedParameter(let type): "parameter type \(type) has a value of the wrong size"
        }
    }
}
