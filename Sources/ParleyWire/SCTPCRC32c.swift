/// CRC-32c (Castagnoli, reflected polynomial 0x82F63B78), the SCTP packet checksum
/// (RFC 9260 §6.8 and Appendix B), computed with a 256-entry table.
public enum SCTPCRC32c {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 {
            value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1
        }
        return value
    }

    /// The CRC-32c of `bytes`; `checksum("123456789".utf8) == 0xE3069283`.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }

    /// The checksum of a whole SCTP packet whose checksum field (bytes 8..<12) counts as zero.
    static func packetChecksum(_ packet: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for (index, byte) in packet.enumerated() {
            let value = (8..<12).contains(index) ? 0 : byte
            crc = table[Int((crc ^ UInt32(value)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }
}
