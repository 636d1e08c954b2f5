/// A source description, RTCP packet type 202 (RFC 3550 §6.5): per source, a list of items
/// such as CNAME (§6.5.1).
public struct RTCPSourceDescription: Sendable, Equatable {
    /// One SDES item: a type (1 = CNAME, §6.5) and up to 255 bytes of text.
    public struct Item: Sendable, Equatable {
        public static let cnameType: UInt8 = 1

        public var type: UInt8
        /// At most 255 bytes; longer values are cut on encoding.
        public var value: [UInt8]

        public init(type: UInt8, value: [UInt8]) {
            self.type = type
            self.value = value
        }
    }

    /// The items describing one source.
    public struct Chunk: Sendable, Equatable {
        public var ssrc: UInt32
        public var items: [Item]

        public init(ssrc: UInt32, items: [Item]) {
            self.ssrc = ssrc
            self.items = items
        }
    }

    /// At most 31 (a five-bit count); more are not written.
    public var chunks: [Chunk]

    public init(chunks: [Chunk]) {
        self.chunks = chunks
    }

    /// One chunk carrying only CNAME, as every compound packet needs (RFC 3550 §6.1).
    public init(ssrc: UInt32, cname: String) {
        self.init(chunks: [Chunk(ssrc: ssrc, items: [Item(type: Item.cnameType, value: Array(cname.utf8))])])
    }

    /// The CNAME of the first chunk that has one, decoded leniently as UTF-8.
    public var cname: String? {
        for chunk in chunks {
            for item in chunk.items where item.type == Item.cnameType {
                return String(decoding: item.value, as: UTF8.self)
            }
        }
        return nil
    }

    static let packetType: UInt8 = 202

    /// §6.5: each chunk is an SSRC, items, then one or more zero bytes up to a 32-bit boundary.
    init?(count: Int, body reader: inout BigEndianReader) {
        var chunks: [Chunk] = []
        let bodyStart = reader.offset
        for _ in 0..<count {
            guard let ssrc = reader.read(UInt32.self) else { return nil }
            var items: [Item] = []
            while true {
                guard let type = reader.read(UInt8.self) else { return nil }
                if type == 0 { break }
                guard let length = reader.read(UInt8.self), let value = reader.readBytes(Int(length)) else { return nil }
                items.append(Item(type: type, value: value))
            }
            let misalignment = (reader.offset - bodyStart) % 4
            guard reader.skip(misalignment == 0 ? 0 : 4 - misalignment) else { return nil }
            chunks.append(Chunk(ssrc: ssrc, items: items))
        }
        self.init(chunks: chunks)
    }

    func append(to bytes: inout [UInt8]) {
        let written = chunks.prefix(31)
        var body: [UInt8] = []
        for chunk in written {
            body.appendBigEndian(chunk.ssrc)
            for item in chunk.items where item.type != 0 {
                let value = item.value.prefix(255)
                body.append(item.type)
                body.append(UInt8(value.count))
                body += value
            }
            body.append(0)
            body.padToFourBytes()
        }
        RTCPCompoundPacket.appendPacket(count: written.count, packetType: Self.packetType, body: body, to: &bytes)
    }
}
