/// A SACK chunk (RFC 9260 §3.3.4): the cumulative TSN, the receive window, gap blocks and
/// duplicate TSNs.
public struct SCTPSelectiveAck: Sendable, Equatable {
    /// A run of received TSNs, as offsets from the Cumulative TSN Ack (both ends included).
    public struct GapAckBlock: Sendable, Hashable {
        public var start: UInt16
        public var end: UInt16

        public init(start: UInt16, end: UInt16) {
            self.start = start
            self.end = end
        }
    }

    public var cumulativeTSNAck: UInt32
    public var advertisedReceiverWindowCredit: UInt32
    public var gapAckBlocks: [GapAckBlock]
    public var duplicateTSNs: [UInt32]

    public init(cumulativeTSNAck: UInt32, advertisedReceiverWindowCredit: UInt32,
                gapAckBlocks: [GapAckBlock] = [], duplicateTSNs: [UInt32] = []) {
        self.cumulativeTSNAck = cumulativeTSNAck
        self.advertisedReceiverWindowCredit = advertisedReceiverWindowCredit
        self.gapAckBlocks = gapAckBlocks
        self.duplicateTSNs = duplicateTSNs
    }

    init(value: [UInt8]) throws(SCTPParseError) {
        let type = SCTPChunk.ChunkType.selectiveAck
        guard value.count >= 12 else { throw .chunkTooShort(type: type, length: value.count) }
        var reader = BigEndianReader(value)
        cumulativeTSNAck = reader.read(UInt32.self) ?? 0
        advertisedReceiverWindowCredit = reader.read(UInt32.self) ?? 0
        let gapCount = Int(reader.read(UInt16.self) ?? 0)
        let duplicateCount = Int(reader.read(UInt16.self) ?? 0)
        guard reader.remaining == 4 * (gapCount + duplicateCount) else { throw .chunkLengthMismatch(type: type) }
        gapAckBlocks = (0..<gapCount).map { _ in
            GapAckBlock(start: reader.read(UInt16.self) ?? 0, end: reader.read(UInt16.self) ?? 0)
        }
        duplicateTSNs = (0..<duplicateCount).map { _ in reader.read(UInt32.self) ?? 0 }
    }

    func appendValue(to bytes: inout [UInt8]) {
        bytes.appendBigEndian(cumulativeTSNAck)
        bytes.appendBigEndian(advertisedReceiverWindowCredit)
        bytes.appendBigEndian(UInt16(truncatingIfNeeded: gapAckBlocks.count))
        bytes.appendBigEndian(UInt16(truncatingIfNeeded: duplicateTSNs.count))
        for block in gapAckBlocks {
            bytes.appendBigEndian(block.start)
            bytes.appendBigEndian(block.end)
        }
        for tsn in duplicateTSNs { bytes.appendBigEndian(tsn) }
    }
}
