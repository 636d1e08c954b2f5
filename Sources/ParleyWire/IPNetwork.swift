/// An address block in CIDR notation (RFC 4632 §3.1, RFC 4291 §2.3): `10.0.0.0/8`,
/// `fd00::/8`, or a single address (`127.0.0.1` is `127.0.0.1/32`).
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let address = IPAddress(parts[0]) else { return nil }
        let maximum = address.isIPv4 ? 32 : 128
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...maximum).contains(length), parts[1].allSatisfy(\.isASCII) else { return nil }
            prefixLength = length
        } else {
            prefixLength = maximum
        }
        self.address = address
    }

    /// True when `candidate` is of the same family and shares the first `prefixLength` bits.
    public func contains(_ candidate: IPAddress) -> Bool {
        let mine = address.bytes
        let theirs = candidate.bytes
        guard mine.count == theirs.count else { return false }
        var bitsLeft = prefixLength
        for index in mine.indices where bitsLeft > 0 {
            let mask: UInt8 = bitsLeft >= 8 ? 0xFF : ~(0xFF >> UInt8(bitsLeft))
            if mine[index] & mask != theirs[index] & mask { return false }
            bitsLeft -= 8
        }
        return true
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
