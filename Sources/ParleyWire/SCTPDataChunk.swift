/// A DATA chunk (RFC 9260 §3.3.1): one fragment of one user message on one stream.
public struct SCTPDataChunk: Sendable, Equatable {
    public var tsn: UInt32
    public var streamID: UInt16
    public var streamSequenceNumber: UInt16
    /// The Payload Protocol Identifier (RFC 8831 §8 lists WebRTC's values).
    public var payloadProtocolIdentifier: UInt32
    /// U bit: deliver without regard to the stream sequence number.
    public var isUnordered: Bool
    /// B bit: the first fragment of a user message.
    public var isBeginning: Bool
    /// E bit: the last fragment of a user message.
    public var isEnding: Bool
    /// I bit (RFC 7053 §3): the sender asks for a SACK without delay.
    public var isImmediate: Bool
    public var userData: [UInt8]

    /// The fixed part of a DATA chunk: chunk header plus TSN, stream, SSN and PPID.
    public static let headerLength = 16

    public init(tsn: UInt32, streamID: UInt16, streamSequenceNumber: UInt16, payloadProtocolIdentifier: UInt32,
                isUnordered: Bool = false, isBeginning: Bool = true, isEnding: Bool = true,
                isImmediate: Bool = false, userData: [UInt8]) {
        self.tsn = tsn
        self.streamID = streamID
        self.streamSequenceNumber = streamSequenceNumber
        self.payloadProtocolIdentifier = payloadProtocolIdentifier
        self.isUnordered = isUnordered
        self.isBeginning = isBeginning
        self.isEnding = isEnding
        self.isImmediate = isImmediate
        self.userData = userData
    }

    init(flags: UInt8, value: [UInt8]) throws(SCTPParseError) {
        guard value.count >= 12 else { throw .chunkTooShort(type: SCTPChunk.ChunkType.data, length: value.count) }
        guard value.count > 12 else { throw .emptyUserData }
        var reader = BigEndianReader(value)
        tsn = reader.read(UInt32.self) ?? 0
        streamID = reader.read(UInt16.self) ?? 0
        streamSequenceNumber = reader.read(UInt16.self) ?? 0
        payloadProtocolIdentifier = reader.read(UInt32.self) ?? 0
        userData = Array(value[12...])
        isImmediate = flags & 0x08 != 0
        isUnordered = flags & 0x04 != 0
        isBeginning = flags & 0x02 != 0
        isEnding = flags & 0x01 != 0
    }

    var flags: UInt8 {
        (isImmediate ? 0x08 : 0) | (isUnordered ? 0x04 : 0) | (isBeginning ? 0x02 : 0) | (isEnding ? 0x01 : 0)
    }

    func appendValue(to bytes: inout [UInt8]) {
        bytes.appendBigEndian(tsn)
        bytes.appendBigEndian(streamID)
        bytes.appendBigEndian(streamSequenceNumber)
        bytes.appendBigEndian(payloadProtocolIdentifier)
        bytes.append(contentsOf: userData)
    }
}
