/// The body of an INIT or INIT-ACK chunk (RFC 9260 §3.3.2, §3.3.3).
public struct SCTPInitChunk: Sendable, Equatable {
    /// The Initiate Tag: the verification tag the peer must put on every packet it sends us.
    public var initiateTag: UInt32
    public var advertisedReceiverWindowCredit: UInt32
    public var outboundStreams: UInt16
    public var inboundStreams: UInt16
    public var initialTSN: UInt32
    public var parameters: [SCTPInitParameter]

    public init(initiateTag: UInt32, advertisedReceiverWindowCredit: UInt32, outboundStreams: UInt16,
                inboundStreams: UInt16, initialTSN: UInt32, parameters: [SCTPInitParameter] = []) {
        self.initiateTag = initiateTag
        self.advertisedReceiverWindowCredit = advertisedReceiverWindowCredit
        self.outboundStreams = outboundStreams
        self.inboundStreams = inboundStreams
        self.initialTSN = initialTSN
        self.parameters = parameters
    }

    init(type: UInt8, value: [UInt8]) throws(SCTPParseError) {
        guard value.count >= 16 else { throw .chunkTooShort(type: type, length: value.count) }
        var reader = BigEndianReader(value)
        initiateTag = reader.read(UInt32.self) ?? 0
        advertisedReceiverWindowCredit = reader.read(UInt32.self) ?? 0
        outboundStreams = reader.read(UInt16.self) ?? 0
        inboundStreams = reader.read(UInt16.self) ?? 0
        initialTSN = reader.read(UInt32.self) ?? 0
        guard initiateTag != 0 else { throw .invalidInitiation(reason: "zero initiate tag") }
        guard outboundStreams != 0, inboundStreams != 0 else { throw .invalidInitiation(reason: "zero streams") }
        parameters = []
        for (parameterType, body) in try SCTPTLV.parseList(Array(value[16...])) {
            parameters.append(try SCTPInitParameter(type: parameterType, value: body))
        }
    }

    /// Parses an INIT chunk standing on its own, chunk header included (§3.3.2), as SNAP's SDP
    /// `a=sctp-init` carries it (draft-hancke-tsvwg-snap-00): type 1, a Chunk Length that
    /// covers the bytes, and after it nothing but the chunk's zero padding (§3.2).
    public init(chunk bytes: [UInt8]) throws(SCTPParseError) {
        guard bytes.count >= 4 else { throw .chunkOverrun(type: bytes.first ?? 0) }
        let type = bytes[0]
        guard type == SCTPChunk.ChunkType.initiation else {
            throw .unexpectedChunkType(expected: SCTPChunk.ChunkType.initiation, found: type)
        }
        let length = Int(bytes[2]) << 8 | Int(bytes[3])
        guard length >= 4, length <= bytes.count else { throw .chunkOverrun(type: type) }
        guard bytes.count - length < 4, bytes[length...].allSatisfy({ $0 == 0 }) else {
            throw .chunkLengthMismatch(type: type)
        }
        try self.init(type: type, value: Array(bytes[4..<length]))
    }

    /// This INIT as a whole chunk (§3.3.2): header, fixed fields and parameters, Chunk Length
    /// bytes long. The chunk's padding is left out, as SNAP's `a=sctp-init` writes it
    /// (draft-hancke-tsvwg-snap-00 and Chromium both send 30 bytes for a 30-byte INIT).
    public var chunk: [UInt8] {
        var bytes: [UInt8] = []
        SCTPChunk.initiation(self).append(to: &bytes)
        return Array(bytes[..<(Int(bytes[2]) << 8 | Int(bytes[3]))])
    }

    func appendValue(to bytes: inout [UInt8]) {
        bytes.appendBigEndian(initiateTag)
        bytes.appendBigEndian(advertisedReceiverWindowCredit)
        bytes.appendBigEndian(outboundStreams)
        bytes.appendBigEndian(inboundStreams)
        bytes.appendBigEndian(initialTSN)
        for parameter in parameters { parameter.append(to: &bytes) }
    }

    /// The State Cookie of an INIT-ACK (§3.3.3), if present.
    public var stateCookie: [UInt8]? {
        for case .stateCookie(let cookie) in parameters { return cookie }
        return nil
    }

    /// True when the sender supports FORWARD-TSN (RFC 3758 §3.1): the Forward-TSN-Supported
    /// parameter, or FORWARD-TSN in Supported Extensions (RFC 5061 §4.2.7).
    public var supportsForwardTSN: Bool {
        parameters.contains { parameter in
            switch parameter {
            case .forwardTSNSupported: true
            case .supportedExtensions(let types): types.contains(SCTPChunk.ChunkType.forwardTSN)
            default: false
            }
        }
    }

    /// True when Supported Extensions lists RE-CONFIG (RFC 6525 §4.1).
    public var supportsReconfig: Bool {
        parameters.contains { parameter in
            if case .supportedExtensions(let types) = parameter { return types.contains(SCTPChunk.ChunkType.reconfig) }
            return false
        }
    }

    /// True when an unrecognized parameter's type tells the receiver to stop processing the
    /// chunk's remaining parameters (the high bit clear, §3.2.1).
    public var hasParameterThatStopsProcessing: Bool {
        parameters.contains { parameter in
            if case .unknown(let type, _) = parameter { return type & 0x8000 == 0 }
            return false
        }
    }
}

/// An INIT or INIT-ACK parameter (RFC 9260 §3.3.2.1, §3.3.3.1) that WebRTC peers exchange.
public enum SCTPInitParameter: Sendable, Equatable {
    case stateCookie([UInt8])
    /// Forward-TSN-Supported (RFC 3758 §3.1).
    case forwardTSNSupported
    /// Supported Extensions (RFC 5061 §4.2.7): chunk types the sender understands.
    case supportedExtensions([UInt8])
    case unknown(type: UInt16, value: [UInt8])

    public enum ParameterType {
        public static let stateCookie: UInt16 = 7
        public static let supportedExtensions: UInt16 = 0x8008
        public static let forwardTSNSupported: UInt16 = 0xC000
    }

    init(type: UInt16, value: [UInt8]) throws(SCTPParseError) {
        switch type {
        case ParameterType.stateCookie: self = .stateCookie(value)
        case ParameterType.forwardTSNSupported:
            guard value.isEmpty else { throw .malformedParameter(type: type) }
            self = .forwardTSNSupported
        case ParameterType.supportedExtensions: self = .supportedExtensions(value)
        default: self = .unknown(type: type, value: value)
        }
    }

    func append(to bytes: inout [UInt8]) {
        switch self {
        case .stateCookie(let cookie): SCTPTLV.append(type: ParameterType.stateCookie, value: cookie, to: &bytes)
        case .forwardTSNSupported: SCTPTLV.append(type: ParameterType.forwardTSNSupported, value: [], to: &bytes)
        case .supportedExtensions(let types): SCTPTLV.append(type: ParameterType.supportedExtensions, value: types, to: &bytes)
        case .unknown(let type, let value): SCTPTLV.append(type: type, value: value, to: &bytes)
        }
    }
}
