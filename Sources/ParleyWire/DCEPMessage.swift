/// A Data Channel Establishment Protocol message (RFC 8832 §5), carried in DATA chunks with
/// PPID 50 (`DCEPMessage.payloadProtocolIdentifier`).
public enum DCEPMessage: Sendable, Equatable {
    /// DATA_CHANNEL_OPEN (RFC 8832 §5.1).
    case open(DCEPOpen)
    /// DATA_CHANNEL_ACK (RFC 8832 §5.2).
    case ack

    /// The Payload Protocol Identifier of DCEP (RFC 8832 §8.1).
    public static let payloadProtocolIdentifier: UInt32 = 50

    enum MessageType {
        static let ack: UInt8 = 0x02
        static let open: UInt8 = 0x03
    }

    public init(parsing bytes: [UInt8]) throws(DCEPParseError) {
        guard let type = bytes.first else { throw .empty }
        switch type {
        case MessageType.ack:
            // RFC 8832 §5.2: the ACK is the type byte alone.
            guard bytes.count == 1 else { throw .trailingBytes(bytes.count - 1) }
            self = .ack
        case MessageType.open: self = .open(try DCEPOpen(parsing: bytes))
        default: throw .unknownMessageType(type)
        }
    }

    public func serialized() -> [UInt8] {
        switch self {
        case .ack: [MessageType.ack]
        case .open(let open): open.serialized()
        }
    }
}

/// The body of DATA_CHANNEL_OPEN (RFC 8832 §5.1).
public struct DCEPOpen: Sendable, Equatable {
    /// The channel type byte (RFC 8832 §5.1): reliability kind and, in its high bit, unordered.
    public enum ChannelType: UInt8, Sendable {
        case reliable = 0x00
        case reliableUnordered = 0x80
        case partialReliableRetransmit = 0x01
        case partialReliableRetransmitUnordered = 0x81
        case partialReliableTimed = 0x02
        case partialReliableTimedUnordered = 0x82

        public var isUnordered: Bool { rawValue & 0x80 != 0 }
    }

    public var channelType: ChannelType
    public var priority: UInt16
    /// Retransmissions or lifetime in milliseconds, by channel type; 0 when reliable.
    public var reliabilityParameter: UInt32
    public var label: String
    public var `protocol`: String

    public init(channelType: ChannelType, priority: UInt16 = 256, reliabilityParameter: UInt32 = 0,
                label: String, protocol: String = "") {
        self.channelType = channelType
        self.priority = priority
        self.reliabilityParameter = reliabilityParameter
        self.label = label
        self.protocol = `protocol`
    }

    init(parsing bytes: [UInt8]) throws(DCEPParseError) {
        guard bytes.count >= 12 else { throw .tooShort(byteCount: bytes.count) }
        var reader = BigEndianReader(bytes, from: 1)
        let typeByte = reader.read(UInt8.self) ?? 0
        guard let channelType = ChannelType(rawValue: typeByte) else { throw .unknownChannelType(typeByte) }
        self.channelType = channelType
        priority = reader.read(UInt16.self) ?? 0
        reliabilityParameter = reader.read(UInt32.self) ?? 0
        let labelLength = Int(reader.read(UInt16.self) ?? 0)
        let protocolLength = Int(reader.read(UInt16.self) ?? 0)
        guard reader.remaining == labelLength + protocolLength else {
            throw .lengthMismatch(declared: labelLength + protocolLength, actual: reader.remaining)
        }
        let labelBytes = reader.readBytes(labelLength) ?? []
        let protocolBytes = reader.readBytes(protocolLength) ?? []
        guard let label = String(validating: labelBytes, as: UTF8.self) else { throw .labelNotUTF8 }
        guard let proto = String(validating: protocolBytes, as: UTF8.self) else { throw .protocolNotUTF8 }
        self.label = label
        self.protocol = proto
    }

    func serialized() -> [UInt8] {
        let labelBytes = Array(label.utf8.prefix(Int(UInt16.max)))
        let protocolBytes = Array(`protocol`.utf8.prefix(Int(UInt16.max)))
        var bytes: [UInt8] = [DCEPMessage.MessageType.open, channelType.rawValue]
        bytes.appendBigEndian(priority)
        bytes.appendBigEndian(reliabilityParameter)
        bytes.appendBigEndian(UInt16(labelBytes.count))
        bytes.appendBigEndian(UInt16(protocolBytes.count))
        return bytes + labelBytes + protocolBytes
    }
}

/// Why a PPID 50 payload is not an acceptable DCEP message (RFC 8832 §5).
public enum DCEPParseError: Error, Sendable, Equatable {
    case empty
    case unknownMessageType(UInt8)
    /// A DATA_CHANNEL_ACK with bytes after the type.
    case trailingBytes(Int)
    /// A DATA_CHANNEL_OPEN shorter than its 12-byte fixed part.
    case tooShort(byteCount: Int)
    case unknownChannelType(UInt8)
    /// Label and protocol lengths do not add up to the bytes that follow the fixed part.
    case lengthMismatch(declared: Int, actual: Int)
    case labelNotUTF8
    case protocolNotUTF8
}
