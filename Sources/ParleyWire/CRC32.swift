/// A table-driven CRC-32 over a reflected polynomial, initial value and final XOR 0xFFFFFFFF.
/// Two are in use: ISO-HDLC, under STUN's FINGERPRINT (RFC 8489 §14.7), and Castagnoli
/// (CRC-32c), the SCTP packet checksum (RFC 9260 §6.8, Appendix B).
public struct CRC32: Sendable {
    /// Reflected polynomial 0xEDB88320; `checksum("123456789".utf8) == 0xCBF43926`.
    public static let isoHDLC = CRC32(reflectedPolynomial: 0xEDB8_8320)
    /// Reflected polynomial 0x82F63B78; `checksum("123456789".utf8) == 0xE3069283`.
    public static let castagnoli = CRC32(reflectedPolynomial: 0x82F6_3B78)

    private let table: [UInt32]

    public init(reflectedPolynomial: UInt32) {
        table = (0..<256).map { index in
            var value = UInt32(index)
            for _ in 0..<8 {
                value = value & 1 == 1 ? (value >> 1) ^ reflectedPolynomial : value >> 1
            }
            return value
        }
    }

    public func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }
}
