/// The SCTP common header (RFC 9260 §3.1): ports and the verification tag. The checksum is
/// computed on serialization and verified on parsing, so it is not a field here.
public struct SCTPCommonHeader: Sendable, Hashable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var verificationTag: UInt32

    public init(sourcePort: UInt16, destinationPort: UInt16, verificationTag: UInt32) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.verificationTag = verificationTag
    }
}
