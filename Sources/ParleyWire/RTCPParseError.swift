/// Why bytes are not an acceptable RTCP compound packet (RFC 3550 §6.1, §6.4-6.6, A.2; RFC 4585 §6.1).
public enum RTCPParseError: Error, Sendable, Equatable {
    /// Fewer than the 4 bytes of a common header remain at `offset`.
    case truncatedHeader(offset: Int)
    /// The version field of the packet at `offset` is not 2.
    case badVersion(offset: Int, version: UInt8)
    /// The length field of the packet at `offset` runs past the end of the compound packet.
    case lengthOverrun(offset: Int, declared: Int, available: Int)
    /// The padding count of the packet at `offset` is zero or larger than its body.
    case badPadding(offset: Int)
    /// The body of the packet at `offset` does not hold what its header and items announce.
    case malformedBody(offset: Int, packetType: UInt8)
    /// No packet at all.
    case empty
}
