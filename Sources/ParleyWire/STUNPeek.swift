/// Zero-copy reads of a STUN datagram for a hot path such as the relay (RFC 8489 §5, §14).
public enum STUNPeek {
    /// The byte range of the USERNAME value in `datagram`, read in place without allocating;
    /// nil unless `datagram` is a well-framed Binding request (header bits, magic cookie,
    /// message length, every attribute's framing, nothing after FINGERPRINT) with a USERNAME of
    /// at most 513 bytes before any MESSAGE-INTEGRITY. It checks neither FINGERPRINT's value
    /// nor UTF-8: whenever `STUNMessage(parsing:)` accepts a Binding request, both find the
    /// same USERNAME bytes.
    public static func username(in datagram: UnsafeRawBufferPointer) -> Range<Int>? {
        let count = datagram.count
        guard count >= 20 else { return nil }
        func uint16(at offset: Int) -> Int { Int(datagram[offset]) << 8 | Int(datagram[offset + 1]) }
        guard uint16(at: 0) == 0x0001,
              uint16(at: 4) << 16 | uint16(at: 6) == Int(STUNMessage.magicCookie),
              uint16(at: 2) == count - 20, (count - 20) % 4 == 0 else { return nil }
        var offset = 20
        var found: Range<Int>?
        var seenIntegrity = false
        while offset < count {
            guard count - offset >= 4 else { return nil }
            let type = uint16(at: offset)
            let length = uint16(at: offset + 2)
            let valueStart = offset + 4
            let next = valueStart + ((length + 3) & ~3)
            guard next <= count else { return nil }
            switch type {
            case Int(STUNAttribute.TypeCode.username) where found == nil && !seenIntegrity:
                guard length <= STUNAttribute.maximumUsernameLength else { return nil }
                found = valueStart..<(valueStart + length)
            case Int(STUNAttribute.TypeCode.messageIntegrity):
                seenIntegrity = true
            case Int(STUNAttribute.TypeCode.fingerprint):
                guard next == count else { return nil }
            default:
                break
            }
            offset = next
        }
        return found
    }
}
