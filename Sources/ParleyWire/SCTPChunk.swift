/// One SCTP chunk (RFC 9260 §3.2), with the extensions WebRTC data channels use:
/// FORWARD-TSN (RFC 3758 §3.2) and RE-CONFIG (RFC 6525 §3.1).
///
/// Chunks Parley does not model are kept as `.unknown` so the receiver can apply the rule of
/// the type's two high bits (§3.2: stop or skip, report or not).
public enum SCTPChunk: Sendable, Equatable {
    case data(SCTPDataChunk)
    case initiation(SCTPInitChunk)
    case initiationAck(SCTPInitChunk)
    case selectiveAck(SCTPSelectiveAck)
    /// HEARTBEAT (§3.3.5): the Heartbeat Info parameter, kept whole to be echoed back.
    case heartbeat(info: [UInt8])
    /// HEARTBEAT-ACK (§3.3.6): the echoed Heartbeat Info parameter.
    case heartbeatAck(info: [UInt8])
    /// ABORT (§3.3.7); `reflectedTag` is the T bit: the tag is the sender's own.
    case abort(reflectedTag: Bool, causes: [SCTPErrorCause])
    /// SHUTDOWN (§3.3.8) with the sender's Cumulative TSN Ack.
    case shutdown(cumulativeTSNAck: UInt32)
    case shutdownAck
    case operationError(causes: [SCTPErrorCause])
    /// COOKIE-ECHO (§3.3.11): the State Cookie from the INIT-ACK, returned unchanged.
    case cookieEcho(cookie: [UInt8])
    case cookieAck
    /// SHUTDOWN-COMPLETE (§3.3.13); `reflectedTag` is the T bit.
    case shutdownComplete(reflectedTag: Bool)
    case forwardTSN(SCTPForwardTSN)
    /// RE-CONFIG (RFC 6525 §3.1): one or two re-configuration parameters.
    case reconfig([SCTPReconfigParameter])
    case unknown(type: UInt8, flags: UInt8, value: [UInt8])

    /// Chunk type codes (RFC 9260 §3.2, RFC 3758 §3.2, RFC 6525 §3.1).
    public enum ChunkType {
        public static let data: UInt8 = 0
        public static let initiation: UInt8 = 1
        public static let initiationAck: UInt8 = 2
        public static let selectiveAck: UInt8 = 3
        public static let heartbeat: UInt8 = 4
        public static let heartbeatAck: UInt8 = 5
        public static let abort: UInt8 = 6
        public static let shutdown: UInt8 = 7
        public static let shutdownAck: UInt8 = 8
        public static let operationError: UInt8 = 9
        public static let cookieEcho: UInt8 = 10
        public static let cookieAck: UInt8 = 11
        public static let shutdownComplete: UInt8 = 14
        public static let reconfig: UInt8 = 130
        public static let forwardTSN: UInt8 = 192
    }

    /// The chunk type code on the wire.
    public var type: UInt8 {
        switch self {
        case .data: ChunkType.data
        case .initiation: ChunkType.initiation
        case .initiationAck: ChunkType.initiationAck
        case .selectiveAck: ChunkType.selectiveAck
        case .heartbeat: ChunkType.heartbeat
        case .heartbeatAck: ChunkType.heartbeatAck
        case .abort: ChunkType.abort
        case .shutdown: ChunkType.shutdown
        case .shutdownAck: ChunkType.shutdownAck
        case .operationError: ChunkType.operationError
        case .cookieEcho: ChunkType.cookieEcho
        case .cookieAck: ChunkType.cookieAck
        case .shutdownComplete: ChunkType.shutdownComplete
        case .forwardTSN: ChunkType.forwardTSN
        case .reconfig: ChunkType.reconfig
        case .unknown(let type, _, _): type
        }
    }

    /// Decodes one framed chunk: its type, flags and value (the bytes after the 4-byte chunk
    /// header, without padding).
    public init(type: UInt8, flags: UInt8, value: [UInt8]) throws(SCTPParseError) {
        switch type {
        case ChunkType.data: self = .data(try SCTPDataChunk(flags: flags, value: value))
        case ChunkType.initiation: self = .initiation(try SCTPInitChunk(type: type, value: value))
        case ChunkType.initiationAck: self = .initiationAck(try SCTPInitChunk(type: type, value: value))
        case ChunkType.selectiveAck: self = .selectiveAck(try SCTPSelectiveAck(value: value))
        case ChunkType.heartbeat: self = .heartbeat(info: value)
        case ChunkType.heartbeatAck: self = .heartbeatAck(info: value)
        case ChunkType.abort:
            self = .abort(reflectedTag: flags & 1 == 1, causes: try SCTPErrorCause.parseList(value))
        case ChunkType.shutdown:
            guard value.count >= 4 else { throw .chunkTooShort(type: type, length: value.count) }
            var reader = BigEndianReader(value)
            self = .shutdown(cumulativeTSNAck: reader.read(UInt32.self) ?? 0)
        case ChunkType.shutdownAck: self = .shutdownAck
        case ChunkType.operationError: self = .operationError(causes: try SCTPErrorCause.parseList(value))
        case ChunkType.cookieEcho: self = .cookieEcho(cookie: value)
        case ChunkType.cookieAck: self = .cookieAck
        case ChunkType.shutdownComplete: self = .shutdownComplete(reflectedTag: flags & 1 == 1)
        case ChunkType.forwardTSN: self = .forwardTSN(try SCTPForwardTSN(value: value))
        case ChunkType.reconfig: self = .reconfig(try SCTPReconfigParameter.parseList(value))
        default: self = .unknown(type: type, flags: flags, value: value)
        }
    }

    /// Appends the chunk with its header and padding to `bytes` (§3.2).
    public func append(to bytes: inout [UInt8]) {
        var flags: UInt8 = 0
        var value: [UInt8] = []
        switch self {
        case .data(let chunk):
            flags = chunk.flags
            chunk.appendValue(to: &value)
        case .initiation(let chunk), .initiationAck(let chunk): chunk.appendValue(to: &value)
        case .selectiveAck(let sack): sack.appendValue(to: &value)
        case .heartbeat(let info), .heartbeatAck(let info): value = info
        case .abort(let reflected, let causes):
            flags = reflected ? 1 : 0
            SCTPErrorCause.appendList(causes, to: &value)
        case .shutdown(let ack): value.appendBigEndian(ack)
        case .shutdownAck, .cookieAck: break
        case .operationError(let causes): SCTPErrorCause.appendList(causes, to: &value)
        case .cookieEcho(let cookie): value = cookie
        case .shutdownComplete(let reflected): flags = reflected ? 1 : 0
        case .forwardTSN(let forward): forward.appendValue(to: &value)
        case .reconfig(let parameters):
            for parameter in parameters { parameter.append(to: &value) }
        case .unknown(_, let unknownFlags, let unknownValue):
            flags = unknownFlags
            value = unknownValue
        }
        bytes.append(type)
        bytes.append(flags)
        bytes.appendBigEndian(UInt16(truncatingIfNeeded: value.count + 4))
        bytes.append(contentsOf: value)
        bytes.padToFourBytes()
    }

    /// The bytes this chunk takes in a packet, padding included.
    public var encodedLength: Int {
        var bytes: [UInt8] = []
        append(to: &bytes)
        return bytes.count
    }
}
