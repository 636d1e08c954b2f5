/// An SCTP packet (RFC 9260 §3): the common header and its chunks. Over DTLS (RFC 8261 §3)
/// one DTLS record carries exactly one packet.
public struct SCTPPacket: Sendable, Equatable {
    public var header: SCTPCommonHeader
    public var chunks: [SCTPChunk]

    /// The 12-byte common header (§3.1).
    public static let headerLength = 12

    public init(header: SCTPCommonHeader, chunks: [SCTPChunk]) {
        self.header = header
        self.chunks = chunks
    }

    /// Parses a packet whose every chunk must decode; see `parseLeniently(_:)` for a receiver
    /// that drops single bad chunks and keeps the rest.
    public init(parsing bytes: [UInt8]) throws(SCTPParseError) {
        let (header, results) = try Self.parseLeniently(bytes)
        var chunks: [SCTPChunk] = []
        for result in results {
            switch result {
            case .success(let chunk): chunks.append(chunk)
            case .failure(let error): throw error
            }
        }
        self.init(header: header, chunks: chunks)
    }

    /// Verifies the checksum (§6.8) and the chunk framing (§3.2), then decodes each chunk on
    /// its own, so a malformed chunk yields a failure in its place while the others decode.
    /// Framing errors end the packet: what follows a bad chunk length cannot be located.
    public static func parseLeniently(_ bytes: [UInt8]) throws(SCTPParseError)
        -> (header: SCTPCommonHeader, chunks: [Result<SCTPChunk, SCTPParseError>]) {
        guard bytes.count >= headerLength else { throw .packetTooShort(byteCount: bytes.count) }
        var reader = BigEndianReader(bytes)
        let header = SCTPCommonHeader(sourcePort: reader.read(UInt16.self) ?? 0,
                                      destinationPort: reader.read(UInt16.self) ?? 0,
                                      verificationTag: reader.read(UInt32.self) ?? 0)
        // The checksum is carried least significant byte first (RFC 9260 Appendix B).
        let found = UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24
        let expected = Self.checksum(of: bytes)
        guard found == expected else { throw .checksumMismatch(expected: expected, found: found) }
        _ = reader.skip(4)
        var chunks: [Result<SCTPChunk, SCTPParseError>] = []
        while reader.remaining > 0 {
            guard reader.remaining >= 4 else { throw .chunkOverrun(type: bytes[reader.offset]) }
            let type = reader.read(UInt8.self) ?? 0
            let flags = reader.read(UInt8.self) ?? 0
            let length = Int(reader.read(UInt16.self) ?? 0)
            guard length >= 4, let value = reader.readBytes(length - 4) else { throw .chunkOverrun(type: type) }
            // The last chunk's padding may be missing; anything else must be padded (§3.2).
            _ = reader.skip(min((4 - length % 4) % 4, reader.remaining))
            chunks.append(Result { () throws(SCTPParseError) in try SCTPChunk(type: type, flags: flags, value: value) })
        }
        return (header, chunks)
    }

    /// The CRC-32c of a whole packet whose checksum field (bytes 8..<12) counts as zero.
    static func checksum(of packet: [UInt8]) -> UInt32 {
        CRC32.castagnoli.checksum(packet.indices.lazy.map { (8..<12).contains($0) ? 0 : packet[$0] })
    }

    /// The packet's bytes with its CRC-32c filled in.
    public func serialized() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.headerLength + 64)
        bytes.appendBigEndian(header.sourcePort)
        bytes.appendBigEndian(header.destinationPort)
        bytes.appendBigEndian(header.verificationTag)
        bytes.append(contentsOf: [0, 0, 0, 0])
        for chunk in chunks { chunk.append(to: &bytes) }
        let checksum = Self.checksum(of: bytes)
        bytes[8] = UInt8(truncatingIfNeeded: checksum)
        bytes[9] = UInt8(truncatingIfNeeded: checksum >> 8)
        bytes[10] = UInt8(truncatingIfNeeded: checksum >> 16)
        bytes[11] = UInt8(truncatingIfNeeded: checksum >> 24)
        return bytes
    }
}
