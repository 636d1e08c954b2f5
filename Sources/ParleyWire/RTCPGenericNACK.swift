/// A generic NACK, RTCP transport-layer feedback with packet type 205 and FMT 1
/// (RFC 4585 §6.2.1): lost RTP sequence numbers as PID/BLP pairs.
public struct RTCPGenericNACK: Sendable, Equatable {
    /// One FCI entry: `packetID` is lost, and bit i of `lostBitmask` (least significant first)
    /// says `packetID + i + 1` is lost too.
    public struct Item: Sendable, Equatable {
        public var packetID: UInt16
        public var lostBitmask: UInt16

        public init(packetID: UInt16, lostBitmask: UInt16 = 0) {
            self.packetID = packetID
            self.lostBitmask = lostBitmask
        }

        /// The sequence numbers this entry reports lost, in order.
        public var lostSequenceNumbers: [UInt16] {
            [packetID] + (0..<16).filter { lostBitmask >> $0 & 1 == 1 }.map { packetID &+ UInt16($0 + 1) }
        }
    }

    public var senderSSRC: UInt32
    public var mediaSSRC: UInt32
    public var items: [Item]

    public init(senderSSRC: UInt32, mediaSSRC: UInt32, items: [Item]) {
        self.senderSSRC = senderSSRC
        self.mediaSSRC = mediaSSRC
        self.items = items
    }

    /// Builds the entries for `lost`, given in sending order (sequence numbers wrap at 2^16):
    /// each number joins the bitmask of an earlier entry within 16 after its packet ID, or
    /// starts a new entry. Duplicates are reported once.
    public init(senderSSRC: UInt32, mediaSSRC: UInt32, lostSequenceNumbers lost: some Sequence<UInt16>) {
        var items: [Item] = []
        for sequence in lost {
            if let index = items.firstIndex(where: { (1...16).contains(sequence &- $0.packetID) }) {
                items[index].lostBitmask |= 1 << (sequence &- items[index].packetID &- 1)
            } else if !items.contains(where: { $0.packetID == sequence }) {
                items.append(Item(packetID: sequence))
            }
        }
        self.init(senderSSRC: senderSSRC, mediaSSRC: mediaSSRC, items: items)
    }

    /// Every sequence number reported lost, entry by entry.
    public var lostSequenceNumbers: [UInt16] {
        items.flatMap(\.lostSequenceNumbers)
    }

    static let packetType: UInt8 = 205
    static let format: UInt8 = 1

    init?(body reader: inout BigEndianReader) {
        guard let sender = reader.read(UInt32.self), let media = reader.read(UInt32.self),
              reader.remaining % 4 == 0 else { return nil }
        var items: [Item] = []
        while reader.remaining > 0 {
            guard let packetID = reader.read(UInt16.self), let bitmask = reader.read(UInt16.self) else { return nil }
            items.append(Item(packetID: packetID, lostBitmask: bitmask))
        }
        self.init(senderSSRC: sender, mediaSSRC: media, items: items)
    }

    func append(to bytes: inout [UInt8]) {
        var body: [UInt8] = []
        body.appendBigEndian(senderSSRC)
        body.appendBigEndian(mediaSSRC)
        for item in items {
            body.appendBigEndian(item.packetID)
            body.appendBigEndian(item.lostBitmask)
        }
        RTCPCompoundPacket.appendPacket(count: Int(Self.format), packetType: Self.packetType, body: body, to: &bytes)
    }
}
