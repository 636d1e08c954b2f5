/// A STUN attribute (RFC 8489 §14, RFC 8445 §16.1), decoded when Parley uses it and kept as
/// raw bytes otherwise.
public enum STUNAttribute: Sendable, Equatable {
    /// USERNAME (§14.3): for ICE, "receiverUfrag:senderUfrag" (RFC 8445 §7.2.2).
    case username(String)
    /// MESSAGE-INTEGRITY (§14.5): the 20-byte HMAC-SHA1.
    case messageIntegrity([UInt8])
    /// FINGERPRINT (§14.7): CRC-32 of the message XOR 0x5354554E.
    case fingerprint(UInt32)
    /// XOR-MAPPED-ADDRESS (§14.2): the address the request came from.
    case xorMappedAddress(PeerAddress)
    /// PRIORITY (RFC 8445 §7.1.1).
    case priority(UInt32)
    /// USE-CANDIDATE (RFC 8445 §7.1.2): the controlling agent nominates this pair.
    case useCandidate
    /// ICE-CONTROLLED with its tie-breaker (RFC 8445 §7.1.3).
    case iceControlled(UInt64)
    /// ICE-CONTROLLING with its tie-breaker (RFC 8445 §7.1.3).
    case iceControlling(UInt64)
    /// ERROR-CODE (§14.8): `code` is 300-699; `reason` is at most 763 UTF-8 bytes on the wire.
    case errorCode(code: Int, reason: String)
    /// META-DTLS-IN-STUN (SPED, draft-hancke-webrtc-sped-00 "META-DTLS-IN-STUN"): one DTLS
    /// datagram of a handshake flight, or nothing, which only says the sender speaks SPED.
    case dtlsInSTUN([UInt8])
    /// META-DTLS-IN-STUN-ACKNOWLEDGEMENT (SPED): the CRC-32s (ISO-HDLC, as FINGERPRINT's) of up
    /// to four embedded DTLS datagrams the sender received. A value that is not a whole number
    /// of CRC-32s, or holds more than four, is kept as `.unknown`, which discards it.
    case dtlsInSTUNAcknowledgement([UInt32])
    /// Any other attribute, kept as it came.
    case unknown(type: UInt16, value: [UInt8])

    /// Attribute type codes (RFC 8489 §18.3, RFC 8445 §16.1).
    /// The longest USERNAME accepted: RFC 8489 §14.3 asks for fewer than 509 bytes, RFC 5389
    /// allowed up to 513, and both are taken.
    static let maximumUsernameLength = 513

    enum TypeCode {
        static let username: UInt16 = 0x0006
        static let messageIntegrity: UInt16 = 0x0008
        static let errorCode: UInt16 = 0x0009
        static let xorMappedAddress: UInt16 = 0x0020
        static let priority: UInt16 = 0x0024
        static let useCandidate: UInt16 = 0x0025
        static let fingerprint: UInt16 = 0x8028
        static let iceControlled: UInt16 = 0x8029
        static let iceControlling: UInt16 = 0x802A
        /// SPED's provisional codes (the draft leaves them to IANA), as libwebrtc sends them.
        static let dtlsInSTUN: UInt16 = 0xC070
        static let dtlsInSTUNAcknowledgement: UInt16 = 0xC071
    }

    /// The most CRC-32s one META-DTLS-IN-STUN-ACKNOWLEDGEMENT holds (16 bytes).
    public static let maximumDTLSAcknowledgements = 4

    /// The attribute's type code on the wire.
    public var type: UInt16 {
        switch self {
        case .username: TypeCode.username
        case .messageIntegrity: TypeCode.messageIntegrity
        case .fingerprint: TypeCode.fingerprint
        case .xorMappedAddress: TypeCode.xorMappedAddress
        case .priority: TypeCode.priority
        case .useCandidate: TypeCode.useCandidate
        case .iceControlled: TypeCode.iceControlled
        case .iceControlling: TypeCode.iceControlling
        case .errorCode: TypeCode.errorCode
        case .dtlsInSTUN: TypeCode.dtlsInSTUN
        case .dtlsInSTUNAcknowledgement: TypeCode.dtlsInSTUNAcknowledgement
        case .unknown(let type, _): type
        }
    }

    /// True for types 0x0000-0x7FFF that a receiver must understand (§14).
    public var isComprehensionRequired: Bool { type < 0x8000 }

    /// The value bytes, without header or padding. XOR-MAPPED-ADDRESS needs the transaction ID.
    func value(transactionID: STUNTransactionID) -> [UInt8] {
        var value: [UInt8] = []
        switch self {
        case .username(let name):
            value = Array(name.utf8)
        case .messageIntegrity(let mac):
            value = mac
        case .fingerprint(let crc):
            value.appendBigEndian(crc)
        case .xorMappedAddress(let address):
            value = Self.xorAddressValue(address, transactionID: transactionID)
        case .priority(let priority):
            value.appendBigEndian(priority)
        case .useCandidate:
            break
        case .iceControlled(let tieBreaker), .iceControlling(let tieBreaker):
            value.appendBigEndian(tieBreaker)
        case .errorCode(let code, let reason):
            value = [0, 0, UInt8(truncatingIfNeeded: code / 100) & 0x07, UInt8(truncatingIfNeeded: code % 100)]
            value += reason.utf8.prefix(763)
        case .dtlsInSTUN(let datagram):
            value = datagram
        case .dtlsInSTUNAcknowledgement(let hashes):
            for hash in hashes { value.appendBigEndian(hash) }
        case .unknown(_, let bytes):
            value = bytes
        }
        return value
    }

    /// Decodes one attribute value (RFC 8489 §14); unknown types are kept raw.
    static func decode(
        type: UInt16, value: [UInt8], transactionID: STUNTransactionID
    ) throws(STUNParseError) -> STUNAttribute {
        var reader = BigEndianReader(value)
        func exactly<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) throws(STUNParseError) -> T {
            guard value.count == MemoryLayout<T>.size, let number = reader.read(T.self) else {
                throw .malformedAttribute(type: type)
            }
            return number
        }
        switch type {
        case TypeCode.username:
            guard value.count <= Self.maximumUsernameLength, let name = String(validating: value, as: UTF8.self) else {
                throw .malformedAttribute(type: type)
            }
            return .username(name)
        case TypeCode.messageIntegrity:
            guard value.count == 20 else { throw .malformedAttribute(type: type) }
            return .messageIntegrity(value)
        case TypeCode.fingerprint:
            return .fingerprint(try exactly(UInt32.self))
        case TypeCode.xorMappedAddress:
            guard let address = xorAddress(from: value, transactionID: transactionID) else {
                throw .malformedAttribute(type: type)
            }
            return .xorMappedAddress(address)
        case TypeCode.priority:
            return .priority(try exactly(UInt32.self))
        case TypeCode.useCandidate:
            guard value.isEmpty else { throw .malformedAttribute(type: type) }
            return .useCandidate
        case TypeCode.iceControlled:
            return .iceControlled(try exactly(UInt64.self))
        case TypeCode.iceControlling:
            return .iceControlling(try exactly(UInt64.self))
        case TypeCode.errorCode:
            guard value.count >= 4, value.count <= 4 + 763,
                  (3...6).contains(value[2] & 0x07), value[3] < 100 else {
                throw .malformedAttribute(type: type)
            }
            let reason = String(decoding: value[4...], as: UTF8.self)
            return .errorCode(code: Int(value[2] & 0x07) * 100 + Int(value[3]), reason: reason)
        case TypeCode.dtlsInSTUN:
            return .dtlsInSTUN(value)
        case TypeCode.dtlsInSTUNAcknowledgement:
            guard value.count % 4 == 0, value.count <= 4 * maximumDTLSAcknowledgements else {
                return .unknown(type: type, value: value)
            }
            var hashes: [UInt32] = []
            while let hash = reader.read(UInt32.self) { hashes.append(hash) }
            return .dtlsInSTUNAcknowledgement(hashes)
        default:
            return .unknown(type: type, value: value)
        }
    }

    /// RFC 8489 §14.2: the port is XORed with the cookie's top 16 bits, an IPv4 address with
    /// the cookie, an IPv6 address with the cookie followed by the transaction ID.
    private static func xorMask(transactionID: STUNTransactionID) -> [UInt8] {
        [0x21, 0x12, 0xA4, 0x42] + transactionID.bytes
    }

    private static func xorAddressValue(_ address: PeerAddress, transactionID: STUNTransactionID) -> [UInt8] {
        let mask = xorMask(transactionID: transactionID)
        let family: UInt8 = address.ip.isIPv4 ? 0x01 : 0x02
        var value: [UInt8] = [0, family]
        value.appendBigEndian(address.port ^ 0x2112)
        for (index, byte) in address.ip.bytes.enumerated() {
            value.append(byte ^ mask[index])
        }
        return value
    }

    private static func xorAddress(from value: [UInt8], transactionID: STUNTransactionID) -> PeerAddress? {
        guard value.count >= 4 else { return nil }
        let length: Int
        switch value[1] {
        case 0x01: length = 4
        case 0x02: length = 16
        default: return nil
        }
        guard value.count == 4 + length else { return nil }
        let mask = xorMask(transactionID: transactionID)
        let port = (UInt16(value[2]) << 8 | UInt16(value[3])) ^ 0x2112
        let addressBytes = (0..<length).map { value[4 + $0] ^ mask[$0] }
        guard let ip = IPAddress(bytes: addressBytes) else { return nil }
        return PeerAddress(ip: ip, port: port)
    }
}
