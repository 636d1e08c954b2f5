/// One RTCP packet of a compound packet (RFC 3550 §6; RFC 4585 §6.2.1 for generic NACK).
/// Packet types Parley does not decode are kept whole in `other`.
public enum RTCPPacket: Sendable, Equatable {
    case senderReport(RTCPSenderReport)
    case receiverReport(RTCPReceiverReport)
    case sourceDescription(RTCPSourceDescription)
    case bye(RTCPBye)
    case genericNACK(RTCPGenericNACK)
    /// Any other packet: its type and all its bytes, header included, written back as they are.
    case other(packetType: UInt8, bytes: [UInt8])
}

/// Parsing and encoding of RTCP compound packets (RFC 3550 §6.1, A.2; RFC 5506 reduced size).
public enum RTCPCompoundPacket {
    /// Splits `bytes` into RTCP packets and decodes each. Every packet must have version 2 and a
    /// length inside the buffer; padding (P bit, count in the packet's last byte) is removed.
    /// A lone feedback packet (RFC 5506) is accepted: the SR/RR-first rule is not enforced.
    public static func parse(_ bytes: [UInt8]) throws(RTCPParseError) -> [RTCPPacket] {
        guard !bytes.isEmpty else { throw .empty }
        var packets: [RTCPPacket] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 4 else { throw .truncatedHeader(offset: offset) }
            let first = bytes[offset]
            guard first >> 6 == 2 else { throw .badVersion(offset: offset, version: first >> 6) }
            let packetType = bytes[offset + 1]
            let length = ((Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])) + 1) * 4
            guard length <= bytes.count - offset else {
                throw .lengthOverrun(offset: offset, declared: length, available: bytes.count - offset)
            }
            var end = offset + length
            if first & 0x20 != 0 {
                let padding = Int(bytes[end - 1])
                guard padding > 0, padding <= length - 4 else { throw .badPadding(offset: offset) }
                end -= padding
            }
            let count = Int(first & 0x1F)
            var body = BigEndianReader(bytes, from: offset + 4, to: end)
            let packet: RTCPPacket?
            switch packetType {
            case RTCPSenderReport.packetType:
                packet = RTCPSenderReport(count: count, body: &body).map(RTCPPacket.senderReport)
            case RTCPReceiverReport.packetType:
                packet = RTCPReceiverReport(count: count, body: &body).map(RTCPPacket.receiverReport)
            case RTCPSourceDescription.packetType:
                packet = RTCPSourceDescription(count: count, body: &body).map(RTCPPacket.sourceDescription)
            case RTCPBye.packetType:
                packet = RTCPBye(count: count, body: &body).map(RTCPPacket.bye)
            case RTCPGenericNACK.packetType where count == Int(RTCPGenericNACK.format):
                packet = RTCPGenericNACK(body: &body).map(RTCPPacket.genericNACK)
            default:
                packet = .other(packetType: packetType, bytes: Array(bytes[offset..<(offset + length)]))
            }
            guard let packet else { throw .malformedBody(offset: offset, packetType: packetType) }
            packets.append(packet)
            offset += length
        }
        return packets
    }

    /// Encodes `packets` one after another, without padding (RFC 3550 §6.1).
    public static func encode(_ packets: [RTCPPacket]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128)
        for packet in packets {
            switch packet {
            case .senderReport(let report): report.append(to: &bytes)
            case .receiverReport(let report): report.append(to: &bytes)
            case .sourceDescription(let description): description.append(to: &bytes)
            case .bye(let bye): bye.append(to: &bytes)
            case .genericNACK(let nack): nack.append(to: &bytes)
            case .other(_, let raw): bytes += raw
            }
        }
        return bytes
    }

    /// Appends a common header (version 2, no padding, `count` in the five-bit field, length in
    /// 32-bit words minus one) and `body`, which must be a multiple of four bytes.
    static func appendPacket(count: Int, packetType: UInt8, body: [UInt8], to bytes: inout [UInt8]) {
        bytes.append(0x80 | UInt8(count & 0x1F))
        bytes.append(packetType)
        bytes.appendBigEndian(UInt16(truncatingIfNeeded: body.count / 4))
        bytes += body
    }
}
