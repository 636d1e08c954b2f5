/// A goodbye, RTCP packet type 203 (RFC 3550 §6.6): these sources are leaving.
public struct RTCPBye: Sendable, Equatable {
    /// At most 31 (a five-bit count); more are not written.
    public var sources: [UInt32]
    /// Optional reason, UTF-8 text of at most 255 bytes on the wire (RFC 3550 §6.6); a
    /// received reason that is not valid UTF-8 is dropped (the sources still leave), and a
    /// longer one is cut at the last whole character that fits.
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
            reason = String(validating: text, as: UTF8.self)
        }
        self.init(sources: sources, reason: reason)
    }

    func append(to bytes: inout [UInt8]) {
        let written = sources.prefix(31)
        var body: [UInt8] = []
        for source in written { body.appendBigEndian(source) }
        if let reason {
            var text = Array(reason.utf8)
            if text.count > 255 {
                // Back off to a character boundary: continuation bytes are 0b10xxxxxx.
                var end = 255
                while end > 0, text[end] & 0xC0 == 0x80 { end -= 1 }
                text.removeSubrange(end...)
            }
            body.append(UInt8(text.count))
            body += text
            body.padToFourBytes()
        }
        RTCPCompoundPacket.appendPacket(count: written.count, packetType: Self.packetType, body: body, to: &bytes)
    }
}
