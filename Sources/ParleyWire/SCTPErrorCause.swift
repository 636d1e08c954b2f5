/// An error cause in an ABORT or ERROR chunk (RFC 9260 §3.3.10): a code and its raw
/// information.
public struct SCTPErrorCause: Sendable, Equatable {
    public var code: UInt16
    public var information: [UInt8]

    /// Cause codes Parley sends or reports (RFC 9260 §3.3.10).
    public enum Code {
        public static let invalidStreamIdentifier: UInt16 = 1
        public static let staleCookie: UInt16 = 3
        public static let unrecognizedChunkType: UInt16 = 6
        public static let noUserData: UInt16 = 9
        public static let userInitiatedAbort: UInt16 = 12
        public static let protocolViolation: UInt16 = 13
    }

    public init(code: UInt16, information: [UInt8] = []) {
        self.code = code
        self.information = information
    }

    static func parseList(_ value: [UInt8]) throws(SCTPParseError) -> [SCTPErrorCause] {
        var causes: [SCTPErrorCause] = []
        for (code, body) in try SCTPTLV.parseList(value) {
            causes.append(SCTPErrorCause(code: code, information: body))
        }
        return causes
    }

    static func appendList(_ causes: [SCTPErrorCause], to bytes: inout [UInt8]) {
        for cause in causes { SCTPTLV.append(type: cause.code, value: cause.information, to: &bytes) }
    }
}

/// The type-length-value layout shared by SCTP parameters and error causes (RFC 9260 §3.2.1):
/// a 16-bit type, a 16-bit length that counts the 4-byte header, the value, then padding.
enum SCTPTLV {
    static func parseList(_ value: [UInt8]) throws(SCTPParseError) -> [(type: UInt16, value: [UInt8])] {
        var reader = BigEndianReader(value)
        var items: [(type: UInt16, value: [UInt8])] = []
        while reader.remaining >= 4 {
            let type = reader.read(UInt16.self) ?? 0
            let length = Int(reader.read(UInt16.self) ?? 0)
            guard length >= 4, let body = reader.readBytes(length - 4) else { throw .parameterOverrun(type: type) }
            // The last item's padding may be absent (§3.2: the chunk length excludes it).
            _ = reader.skip(min((4 - length % 4) % 4, reader.remaining))
            items.append((type, body))
        }
        guard reader.remaining == 0 else { throw .parameterOverrun(type: 0) }
        return items
    }

    /// Pads what came before, then appends one item unpadded: the chunk's own padding ends
    /// the last item, which the chunk length must not count (§3.2).
    static func append(type: UInt16, value: [UInt8], to bytes: inout [UInt8]) {
        bytes.padToFourBytes()
        bytes.appendBigEndian(type)
        bytes.appendBigEndian(UInt16(truncatingIfNeeded: value.count + 4))
        bytes.append(contentsOf: value)
    }
}
