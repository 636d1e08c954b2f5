import ParleyWire

/// The owning transceiver written into a call id, so a control request (`DELETE`, `hangup`,
/// sideband) that a load balancer sends to another transceiver of the cluster is forwarded
/// to the owner instead of answered 404. Signed with the routing keyring (HMAC-SHA256 over a
/// label of its own), so nobody can make a transceiver forward to an address of their
/// choosing.
///
/// Layout of the suffix after the id's 12 random bytes, as lowercase hex: key id (1) |
/// family (1: 4 or 6) | address (4 or 16) | port (2, big-endian) | tag (8) over the label,
/// the random bytes and everything before the tag.
public enum CallOwner {
    static let tagLength = 8
    static let label = Array("parley call owner\u{0}".utf8)

    /// The suffix naming `owner` for a call whose id starts with `random`.
    public static func suffix(random: [UInt8], owner: PeerAddress, keyring: RoutingKeyring) -> String {
        let address = owner.ip.bytes
        var bytes: [UInt8] = [keyring.signingKeyID, address.count == 4 ? 4 : 6] + address
        bytes.appendBigEndian(owner.port)
        bytes += keyring.signer.tag(label: label, message: random + bytes, length: tagLength)
        return hex(bytes)
    }

    /// The owner a suffix names, when it verifies with a key of `keyring`; nil otherwise.
    public static func owner(random: [UInt8], suffix: some StringProtocol, keyring: RoutingKeyring) -> PeerAddress? {
        guard let bytes = bytes(fromHex: suffix), bytes.count == 16 || bytes.count == 28 else { return nil }
        let body = Array(bytes[..<(bytes.count - tagLength)])
        guard let authenticator = keyring.authenticator(for: body[0]),
              authenticator.verify(tag: bytes[(bytes.count - tagLength)...], label: label, message: random + body) else { return nil }
        var portField = BigEndianReader(body, from: body.count - 2)
        guard (body[1] == 4 && body.count == 8) || (body[1] == 6 && body.count == 20),
              let address = IPAddress(bytes: body[2..<(body.count - 2)]), let port = portField.read(UInt16.self) else { return nil }
        return PeerAddress(ip: address, port: port)
    }

    /// Lowercase hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]] }
        return String(decoding: text, as: UTF8.self)
    }

    /// Lowercase hex only; nil for anything else or an odd length.
    public static func bytes(fromHex text: some StringProtocol) -> [UInt8]? {
        let symbols = Array(text.utf8)
        guard symbols.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(symbols.count / 2)
        var index = 0
        while index < symbols.count {
            guard let high = value(symbols[index]), let low = value(symbols[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(_ symbol: UInt8) -> UInt8? {
        switch symbol {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return symbol - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return symbol - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
