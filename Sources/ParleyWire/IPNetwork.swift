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
    /// Compares the addresses as integers (runtimes call this per relayed datagram); Swift's
    /// `<<` yields 0 when shifting by the full width, which gives a /0 network an empty mask.
    public func contains(_ candidate: IPAddress) -> Bool {
        switch (address, candidate) {
        case (.v4(let mine), .v4(let theirs)):
            let mask = UInt32.max << (32 - prefixLength)
            return mine & mask == theirs & mask
        case (.v6(let mine), .v6(let theirs)):
            let highMask = UInt64.max << (64 - min(prefixLength, 64))
            let lowMask = UInt64.max << (128 - max(prefixLength, 64))
            return mine.high & highMask == theirs.high & highMask && mine.low & lowMask == theirs.low & lowMask
        default:
            return false
        }
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
