/// A goodbye, RTCP packet type 203 (RFC 3550 §6.6): these sources are leaving.
public struct RTCPBye: Sendable, Equatable {
    /// At most 31 (a five-bit count); more are not written.
    public var sources: [UInt32]
    /// Optional reason, at most 255 UTF-8 bytes on the wire.
    public var reason: String?

    public init(sources: [UInt32], reason: String? = nil) {
        self.sources = sources
        self.reason = reason
    }

    static let packetType: UInt8 = 203

    init?(count: Int, body reader: inout BigEndianReader) {
        var sources: [UInt32] = []
        for _ in 0..<count {
            guard let source = reader.read(UInt32.self) else { return nil }
            sources.append(source)
        }
        var reason: String?
        if reader.remaining > 0 {
            guard let length = reader.read(UInt8.self), let text = reader.readBytes(Int(length)) else { return nil }
            reason = String(decoding: text, as: UTF8.self)
        }
        self.init(sources: sources, reason: reason)
    }

    func append(to bytes: inout [UInt8]) {
        let written = sources.prefix(31)
        var body: [UInt8] = []
        for source in written { body.appendBigEndian(source) }
        if let reason {
            let text = reason.utf8.prefix(255)
            body.append(UInt8(text.count))
            body += text
            body.padToFourBytes()
        }
        RTCPCompoundPacket.appendPacket(count: written.count, packetType: Self.packetType, body: body, to: &bytes)
    }
}
