/// A FORWARD-TSN chunk (RFC 3758 §3.2): the receiver moves its cumulative TSN to
/// `newCumulativeTSN` and skips the listed stream sequence numbers of ordered streams.
public struct SCTPForwardTSN: Sendable, Equatable {
    /// The highest skipped stream sequence number of one ordered stream.
    public struct SkippedStream: Sendable, Hashable {
        public var streamID: UInt16
        public var streamSequenceNumber: UInt16

        public init(streamID: UInt16, streamSequenceNumber: UInt16) {
            self.streamID = streamID
            self.streamSequenceNumber = streamSequenceNumber
        }
    }

    public var newCumulativeTSN: UInt32
    public var skippedStreams: [SkippedStream]

    public init(newCumulativeTSN: UInt32, skippedStreams: [SkippedStream] = []) {
        self.newCumulativeTSN = newCumulativeTSN
        self.skippedStreams = skippedStreams
    }

    init(value: [UInt8]) throws(SCTPParseError) {
        let type = SCTPChunk.ChunkType.forwardTSN
        guard value.count >= 4 else { throw .chunkTooShort(type: type, length: value.count) }
        guard value.count % 4 == 0 else { throw .chunkLengthMismatch(type: type) }
        var reader = BigEndianReader(value)
        newCumulativeTSN = reader.read(UInt32.self) ?? 0
        skippedStreams = (0..<reader.remaining / 4).map { _ in
            SkippedStream(streamID: reader.read(UInt16.self) ?? 0, streamSequenceNumber: reader.read(UInt16.self) ?? 0)
        }
    }

    func appendValue(to bytes: inout [UInt8]) {
        bytes.appendBigEndian(newCumulativeTSN)
        for skipped in skippedStreams {
            bytes.appendBigEndian(skipped.streamID)
            bytes.appendBigEndian(skipped.streamSequenceNumber)
        }
    }
}
