import ParleyRouting
import ParleyWire

/// Identifies one call in the signaling API (`/v1/realtime/calls/{id}`): `rtc_` and 24
/// lowercase hex digits (96 random bits); on a transceiver that knows its control address
/// (a cluster), followed by the signed owner suffix of `CallOwner` (32 more hex digits for
/// an IPv4 owner, 56 for IPv6), so any transceiver can forward control requests to it.
public struct SessionID: Sendable, Hashable, CustomStringConvertible {
    /// Hex digits after `rtc_`: the random part alone, or with an IPv4 or IPv6 owner.
    static let hexLengths: Set<Int> = [24, 24 + 32, 24 + 56]

    public let rawValue: String

    public init?(rawValue: String) {
        guard rawValue.hasPrefix("rtc_"), Self.hexLengths.contains(rawValue.utf8.count - 4),
              rawValue.dropFirst(4).allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
        self.rawValue = rawValue
    }

    /// A fresh id drawn from `generator`; with `owner`, naming it, signed with `keyring`.
    public static func random(using generator: inout some RandomNumberGenerator,
                              owner: PeerAddress? = nil, keyring: RoutingKeyring? = nil) -> SessionID {
        let hex = (0..<3).map { _ in
            let value = generator.next() as UInt64
            let text = String(value, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }.joined().prefix(24)
        var text = "rtc_" + hex
        if let owner, let keyring, let random = CallOwner.bytes(fromHex: hex) {
            text += CallOwner.suffix(random: random, owner: owner, keyring: keyring)
        }
        return SessionID(rawValue: text)!
    }

    /// The transceiver whose signaling owns the call, when the id names one that verifies.
    public func owner(keyring: RoutingKeyring) -> PeerAddress? {
        let hex = rawValue.dropFirst(4)
        guard hex.count > 24, let random = CallOwner.bytes(fromHex: hex.prefix(24)) else { return nil }
        return CallOwner.owner(random: random, suffix: hex.dropFirst(24), keyring: keyring)
    }

    public var description: String { rawValue }
}
