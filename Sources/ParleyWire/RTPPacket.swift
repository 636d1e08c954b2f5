/// One element of an RTP header extension (RFC 8285 §4): a local identifier and its data.
public struct RTPHeaderExtension: Sendable, Equatable {
    /// 1-14 in the one-byte form, 1-255 in the two-byte form.
    public var id: UInt8
    /// 1-16 bytes in the one-byte form, 0-255 in the two-byte form.
    public var data: [UInt8]

    public init(id: UInt8, data: [UInt8]) {
        self.id = id
        self.data = data
    }
}

/// Why bytes are not an RTP packet (RFC 3550 §5.1, RFC 8285 §4).
public enum RTPParseError: Error, Sendable, Equatable {
    /// Fewer than the 12 bytes of the fixed header.
    case tooShort(byteCount: Int)
    /// The version field is not 2.
    case badVersion(UInt8)
    /// The CSRC count promises more identifiers than the packet holds.
    case csrcOverrun(count: Int)
    /// The header extension's length runs past the end of the packet.
    case extensionOverrun
    /// An RFC 8285 element's length runs past the end of the header extension.
    case malformedExtensionElement(offset: Int)
    /// The padding count is zero or larger than the packet after its header (RFC 3550 §5.1).
    case badPadding(count: UInt8)
}

/// An RTP packet (RFC 3550 §5.1) with RFC 8285 header extensions.
///
/// `paddingLength` bytes of padding (0 for none) are stripped from `payload` on parsing and
/// written back, as zeros ending in the count, on encoding.
public struct RTPPacket: Sendable, Equatable {
    /// The profile of one-byte header extension elements (RFC 8285 §4.2).
    public static let oneByteExtensionProfile: UInt16 = 0xBEDE
    /// The profile of two-byte elements (RFC 8285 §4.3); its low four bits are "appbits".
    public static let twoByteExtensionProfile: UInt16 = 0x1000

    public var marker: Bool
    public var payloadType: UInt8
    public var sequenceNumber: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32
    /// At most 15 (RFC 3550 §5.1); more are not written.
    public var csrcs: [UInt32]
    /// The header extension's profile (RFC 3550 §5.3.1); nil when the packet has none.
    public var extensionProfile: UInt16?
    /// The elements of an RFC 8285 header extension (profile 0xBEDE or 0x100X).
    public var extensions: [RTPHeaderExtension]
    /// The header extension body for any other profile, kept as is (a multiple of four bytes).
    public var extensionData: [UInt8]
    public var payload: [UInt8]
    /// Padding bytes after the payload, including the final count byte; 0 for no padding.
    public var paddingLength: UInt8

    public init(
        marker: Bool = false, payloadType: UInt8, sequenceNumber: UInt16, timestamp: UInt32, ssrc: UInt32,
        csrcs: [UInt32] = [], extensionProfile: UInt16? = nil, extensions: [RTPHeaderExtension] = [],
        extensionData: [UInt8] = [], payload: [UInt8] = [], paddingLength: UInt8 = 0
    ) {
        self.marker = marker
        self.payloadType = payloadType
        self.sequenceNumber = sequenceNumber
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.csrcs = csrcs
        self.extensionProfile = extensionProfile
        self.extensions = extensions
        self.extensionData = extensionData
        self.payload = payload
        self.paddingLength = paddingLength
    }

    /// Parses one RTP packet (RFC 3550 §5.1, §5.3.1; RFC 8285 §4.2, §4.3).
    public init(parsing bytes: [UInt8]) throws(RTPParseError) {
        guard bytes.count >= 12 else { throw .tooShort(byteCount: bytes.count) }
        guard bytes[0] >> 6 == 2 else { throw .badVersion(bytes[0] >> 6) }
        let hasPadding = bytes[0] & 0x20 != 0
        let hasExtension = bytes[0] & 0x10 != 0
        let csrcCount = Int(bytes[0] & 0x0F)
        var reader = BigEndianReader(bytes, from: 2)
        let sequenceNumber = reader.read(UInt16.self) ?? 0
        let timestamp = reader.read(UInt32.self) ?? 0
        let ssrc = reader.read(UInt32.self) ?? 0
        var csrcs: [UInt32] = []
        for _ in 0..<csrcCount {
            guard let csrc = reader.read(UInt32.self) else { throw .csrcOverrun(count: csrcCount) }
            csrcs.append(csrc)
        }
        var profile: UInt16?
        var extensions: [RTPHeaderExtension] = []
        var extensionData: [UInt8] = []
        if hasExtension {
            guard let extensionProfile = reader.read(UInt16.self), let words = reader.read(UInt16.self),
                  let body = reader.readBytes(Int(words) * 4) else { throw .extensionOverrun }
            profile = extensionProfile
            if extensionProfile == Self.oneByteExtensionProfile {
                extensions = try Self.parseElements(body, twoByte: false)
            } else if extensionProfile & 0xFFF0 == Self.twoByteExtensionProfile {
                extensions = try Self.parseElements(body, twoByte: true)
            } else {
                extensionData = body
            }
        }
        var paddingLength: UInt8 = 0
        if hasPadding {
            let count = bytes[bytes.count - 1]
            guard count > 0, Int(count) <= reader.remaining else { throw .badPadding(count: count) }
            paddingLength = count
        }
        self.init(
            marker: bytes[1] & 0x80 != 0, payloadType: bytes[1] & 0x7F, sequenceNumber: sequenceNumber,
            timestamp: timestamp, ssrc: ssrc, csrcs: csrcs, extensionProfile: profile, extensions: extensions,
            extensionData: extensionData,
            payload: Array(bytes[reader.offset..<(bytes.count - Int(paddingLength))]), paddingLength: paddingLength)
    }

    /// RFC 8285 §4.2 (one-byte: ID and length-1 in a byte, ID 15 stops parsing) and §4.3
    /// (two-byte: ID byte, length byte); zero bytes between elements are padding. IDs start at
    /// 1, so in the one-byte form a byte with ID 0 is one byte of padding whatever its length
    /// nibble says, as libwebrtc reads it: an element with ID 0 would not survive re-encoding.
    private static func parseElements(_ body: [UInt8], twoByte: Bool) throws(RTPParseError) -> [RTPHeaderExtension] {
        var elements: [RTPHeaderExtension] = []
        var reader = BigEndianReader(body)
        while let first = reader.read(UInt8.self) {
            if first == 0 || (!twoByte && first >> 4 == 0) { continue }
            let start = reader.offset - 1
            let id: UInt8
            let length: Int
            if twoByte {
                guard let byte = reader.read(UInt8.self) else { throw .malformedExtensionElement(offset: start) }
                id = first
                length = Int(byte)
            } else {
                id = first >> 4
                if id == 15 { break }
                length = Int(first & 0x0F) + 1
            }
            guard let data = reader.readBytes(length) else { throw .malformedExtensionElement(offset: start) }
            elements.append(RTPHeaderExtension(id: id, data: data))
        }
        return elements
    }

    /// Encodes the packet (RFC 3550 §5.1). With profile 0xBEDE, or none and elements present,
    /// elements are written in the one-byte form when every one fits it (ID 1-14, 1-16 bytes),
    /// else in the two-byte form (profile 0x1000); elements with ID 0 are not written and data
    /// beyond 255 bytes is cut. Any other profile writes `extensionData`.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(12 + 4 * csrcs.count + payload.count + Int(paddingLength) + 16)
        let writtenCSRCs = csrcs.prefix(15)
        let extensionBody = encodedExtension()
        var first: UInt8 = 0x80 | UInt8(writtenCSRCs.count)
        if paddingLength > 0 { first |= 0x20 }
        if extensionBody != nil { first |= 0x10 }
        bytes.append(first)
        bytes.append((marker ? 0x80 : 0) | (payloadType & 0x7F))
        bytes.appendBigEndian(sequenceNumber)
        bytes.appendBigEndian(timestamp)
        bytes.appendBigEndian(ssrc)
        for csrc in writtenCSRCs { bytes.appendBigEndian(csrc) }
        if let (profile, body) = extensionBody {
            bytes.appendBigEndian(profile)
            bytes.appendBigEndian(UInt16(truncatingIfNeeded: body.count / 4))
            bytes += body
        }
        bytes += payload
        if paddingLength > 0 {
            bytes += repeatElement(0, count: Int(paddingLength) - 1)
            bytes.append(paddingLength)
        }
        return bytes
    }

    private func encodedExtension() -> (UInt16, [UInt8])? {
        let profile: UInt16
        switch extensionProfile {
        case nil where extensions.isEmpty:
            return nil
        case nil, Self.oneByteExtensionProfile?:
            profile = Self.oneByteExtensionProfile
        case let other?:
            guard other & 0xFFF0 == Self.twoByteExtensionProfile else {
                var body = Array(extensionData.prefix(0xFFFF * 4))
                body.padToFourBytes()
                return (other, body)
            }
            profile = other
        }
        let written = extensions.filter { $0.id != 0 }
        let fitsOneByte = written.allSatisfy { $0.id < 15 && (1...16).contains($0.data.count) }
        var body: [UInt8] = []
        if profile == Self.oneByteExtensionProfile, fitsOneByte {
            for element in written {
                body.append(element.id << 4 | UInt8(element.data.count - 1))
                body += element.data
            }
            body.padToFourBytes()
            return (profile, body)
        }
        for element in written {
            let data = element.data.prefix(255)
            body.append(element.id)
            body.append(UInt8(data.count))
            body += data
        }
        body.padToFourBytes()
        return (profile == Self.oneByteExtensionProfile ? Self.twoByteExtensionProfile : profile, body)
    }
}
