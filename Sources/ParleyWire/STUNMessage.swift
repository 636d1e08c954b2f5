import Crypto

/// The class of a STUN message (RFC 8489 §5): the two class bits of the message type.
public enum STUNClass: Sendable, Hashable {
    case request, indication, successResponse, errorResponse
}

/// A STUN method (RFC 8489 §18.2). Parley speaks only Binding.
public enum STUNMethod: UInt16, Sendable {
    case binding = 1
}

/// A STUN message (RFC 8489 §5): header, transaction ID and attributes in order.
///
/// Parsing validates the header, the magic cookie, every length and FINGERPRINT; it keeps the
/// received bytes up to MESSAGE-INTEGRITY so `hasValidMessageIntegrity(key:)` checks the HMAC
/// over exactly what was sent (§14.5). Equality compares class, method, transaction ID and
/// attributes, not the bytes a message was parsed from.
public struct STUNMessage: Sendable, Equatable {
    /// The fixed magic cookie (RFC 8489 §5).
    public static let magicCookie: UInt32 = 0x2112_A442
    /// XORed into the CRC-32 to make FINGERPRINT (RFC 8489 §14.7).
    public static let fingerprintXOR: UInt32 = 0x5354_554E
    static let headerLength = 20

    public var messageClass: STUNClass
    public var method: STUNMethod
    public var transactionID: STUNTransactionID
    public var attributes: [STUNAttribute]

    /// For a parsed message with MESSAGE-INTEGRITY: the bytes it covers, with the header length
    /// already set as §14.5 requires (to the end of MESSAGE-INTEGRITY).
    private var integrityCoveredBytes: [UInt8]?

    public init(class messageClass: STUNClass, method: STUNMethod = .binding,
                transactionID: STUNTransactionID, attributes: [STUNAttribute] = []) {
        self.messageClass = messageClass
        self.method = method
        self.transactionID = transactionID
        self.attributes = attributes
    }

    public static func == (lhs: STUNMessage, rhs: STUNMessage) -> Bool {
        lhs.messageClass == rhs.messageClass && lhs.method == rhs.method
            && lhs.transactionID == rhs.transactionID && lhs.attributes == rhs.attributes
    }

    // MARK: Parsing

    /// Parses and validates one STUN message (RFC 8489 §5, §6.3, §14): header bits, magic
    /// cookie, message length against the datagram, attribute framing and padding, known
    /// attribute values, and FINGERPRINT when present. Attributes after MESSAGE-INTEGRITY other
    /// than FINGERPRINT are ignored, as §14.5 requires.
    public init(parsing datagram: [UInt8]) throws(STUNParseError) {
        guard datagram.count >= Self.headerLength else { throw .tooShort(byteCount: datagram.count) }
        guard datagram[0] & 0xC0 == 0 else { throw .notSTUN(firstByte: datagram[0]) }
        var header = BigEndianReader(datagram, to: Self.headerLength)
        let type = header.read(UInt16.self) ?? 0
        let length = Int(header.read(UInt16.self) ?? 0)
        let cookie = header.read(UInt32.self) ?? 0
        guard cookie == Self.magicCookie else { throw .badMagicCookie(cookie) }
        guard length == datagram.count - Self.headerLength else {
            throw .lengthMismatch(declared: length, actual: datagram.count - Self.headerLength)
        }
        guard length % 4 == 0 else { throw .lengthNotPadded(length) }
        let (messageClass, methodCode) = Self.splitType(type)
        guard let method = STUNMethod(rawValue: methodCode) else { throw .unsupportedMethod(methodCode) }
        let transactionID = STUNTransactionID(uncheckedBytes: Array(datagram[8..<20]))

        var attributes: [STUNAttribute] = []
        var integrityOffset: Int?
        var reader = BigEndianReader(datagram, from: Self.headerLength)
        while reader.remaining > 0 {
            let start = reader.offset
            // The length is a multiple of four, so a type and a value length always fit here.
            let attributeType = reader.read(UInt16.self) ?? 0
            let valueLength = Int(reader.read(UInt16.self) ?? 0)
            guard let value = reader.readBytes(valueLength), reader.skip((4 - valueLength % 4) % 4) else {
                throw .attributeOverrun(type: attributeType)
            }
            if attributeType == STUNAttribute.TypeCode.fingerprint {
                guard reader.remaining == 0 else { throw .attributeAfterFingerprint }
                let attribute = try STUNAttribute.decode(type: attributeType, value: value, transactionID: transactionID)
                let expected = CRC32.isoHDLC.checksum(datagram[..<start]) ^ Self.fingerprintXOR
                if case .fingerprint(let found) = attribute, found != expected {
                    throw .fingerprintMismatch(expected: expected, found: found)
                }
                attributes.append(attribute)
            } else if integrityOffset == nil {
                let attribute = try STUNAttribute.decode(type: attributeType, value: value, transactionID: transactionID)
                if attributeType == STUNAttribute.TypeCode.messageIntegrity { integrityOffset = start }
                attributes.append(attribute)
            }
        }
        self.init(class: messageClass, method: method, transactionID: transactionID, attributes: attributes)
        if let integrityOffset {
            var covered = Array(datagram[..<integrityOffset])
            covered.setBigEndian(UInt16(integrityOffset + 24 - Self.headerLength), at: 2)
            integrityCoveredBytes = covered
        }
    }

    /// RFC 8489 §5: class bits C1 (0x0100) and C0 (0x0010) interleaved with the 12 method bits.
    private static func splitType(_ type: UInt16) -> (STUNClass, UInt16) {
        let method = (type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2)
        let messageClass: STUNClass
        switch (type & 0x0100 != 0, type & 0x0010 != 0) {
        case (false, false): messageClass = .request
        case (false, true): messageClass = .indication
        case (true, false): messageClass = .successResponse
        case (true, true): messageClass = .errorResponse
        }
        return (messageClass, method)
    }

    private static func joinType(_ messageClass: STUNClass, _ method: UInt16) -> UInt16 {
        let classBits: UInt16
        switch messageClass {
        case .request: classBits = 0
        case .indication: classBits = 0x0010
        case .successResponse: classBits = 0x0100
        case .errorResponse: classBits = 0x0110
        }
        return (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | classBits
    }

    // MARK: Integrity

    /// RFC 8489 §14.5: true when MESSAGE-INTEGRITY is present and equals the HMAC-SHA1, under
    /// `key`, of the message up to that attribute with the header length adjusted to end just
    /// after it. For ICE the key is the receiver's password (RFC 8445 §7.2.2). A parsed message
    /// is checked over its received bytes; a built one over its encoding.
    public func hasValidMessageIntegrity(key: [UInt8]) -> Bool {
        guard let received = messageIntegrity else { return false }
        let covered = integrityCoveredBytes ?? encodedPrefixBeforeIntegrity()
        return HMAC<Insecure.SHA1>.isValidAuthenticationCode(
            received, authenticating: covered, using: SymmetricKey(data: key))
    }

    private func encodedPrefixBeforeIntegrity() -> [UInt8] {
        var bytes = header()
        for attribute in attributes {
            if case .messageIntegrity = attribute { break }
            Self.append(attribute, to: &bytes, transactionID: transactionID)
        }
        bytes.setBigEndian(UInt16(truncatingIfNeeded: bytes.count + 24 - Self.headerLength), at: 2)
        return bytes
    }

    // MARK: Encoding

    /// Encodes the message (RFC 8489 §5, §14). MESSAGE-INTEGRITY and FINGERPRINT values in
    /// `attributes` are not copied: when `integrityKey` is given a fresh MESSAGE-INTEGRITY is
    /// computed and appended (§14.5), then, when `fingerprint` is true, FINGERPRINT (§14.7).
    public func encoded(integrityKey: [UInt8]?, fingerprint: Bool) -> [UInt8] {
        var bytes = header()
        for attribute in attributes {
            switch attribute {
            case .messageIntegrity, .fingerprint: continue
            default: Self.append(attribute, to: &bytes, transactionID: transactionID)
            }
        }
        if let integrityKey {
            bytes.setBigEndian(UInt16(truncatingIfNeeded: bytes.count + 24 - Self.headerLength), at: 2)
            let mac = HMAC<Insecure.SHA1>.authenticationCode(for: bytes, using: SymmetricKey(data: integrityKey))
            Self.append(.messageIntegrity(Array(mac)), to: &bytes, transactionID: transactionID)
        }
        if fingerprint {
            bytes.setBigEndian(UInt16(truncatingIfNeeded: bytes.count + 8 - Self.headerLength), at: 2)
            let crc = CRC32.isoHDLC.checksum(bytes) ^ Self.fingerprintXOR
            Self.append(.fingerprint(crc), to: &bytes, transactionID: transactionID)
        }
        bytes.setBigEndian(UInt16(truncatingIfNeeded: bytes.count - Self.headerLength), at: 2)
        return bytes
    }

    private func header() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128)
        bytes.appendBigEndian(Self.joinType(messageClass, method.rawValue))
        bytes.appendBigEndian(UInt16(0))
        bytes.appendBigEndian(Self.magicCookie)
        bytes += transactionID.bytes
        return bytes
    }

    private static func append(_ attribute: STUNAttribute, to bytes: inout [UInt8], transactionID: STUNTransactionID) {
        let value = attribute.value(transactionID: transactionID).prefix(0xFFFC)
        bytes.appendBigEndian(attribute.type)
        bytes.appendBigEndian(UInt16(value.count))
        bytes += value
        bytes.padToFourBytes()
    }

    // MARK: Accessors (first occurrence of each attribute)

    public var username: String? {
        for case .username(let name) in attributes { return name }
        return nil
    }

    public var messageIntegrity: [UInt8]? {
        for case .messageIntegrity(let mac) in attributes { return mac }
        return nil
    }

    public var fingerprint: UInt32? {
        for case .fingerprint(let crc) in attributes { return crc }
        return nil
    }

    public var priority: UInt32? {
        for case .priority(let priority) in attributes { return priority }
        return nil
    }

    public var useCandidate: Bool {
        attributes.contains(.useCandidate)
    }

    public var iceControlling: UInt64? {
        for case .iceControlling(let tieBreaker) in attributes { return tieBreaker }
        return nil
    }

    public var iceControlled: UInt64? {
        for case .iceControlled(let tieBreaker) in attributes { return tieBreaker }
        return nil
    }

    public var xorMappedAddress: PeerAddress? {
        for case .xorMappedAddress(let address) in attributes { return address }
        return nil
    }

    public var errorCode: (code: Int, reason: String)? {
        for case .errorCode(let code, let reason) in attributes { return (code, reason) }
        return nil
    }

    /// META-DTLS-IN-STUN's datagram (SPED), empty when the attribute carries none.
    public var dtlsInSTUN: [UInt8]? {
        for case .dtlsInSTUN(let datagram) in attributes { return datagram }
        return nil
    }

    /// META-DTLS-IN-STUN-ACKNOWLEDGEMENT's CRC-32s (SPED).
    public var dtlsInSTUNAcknowledgement: [UInt32]? {
        for case .dtlsInSTUNAcknowledgement(let hashes) in attributes { return hashes }
        return nil
    }
}
