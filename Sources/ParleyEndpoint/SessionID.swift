/// Identifies one call in the signaling API (`/v1/realtime/calls/{id}`): `rtc_` and 24
/// lowercase hex digits (96 random bits).
public struct SessionID: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String

    public init?(rawValue: String) {
        guard rawValue.hasPrefix("rtc_"), rawValue.count == 28,
              rawValue.dropFirst(4).allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
        self.rawValue = rawValue
    }

    /// A fresh id drawn from `generator`.
    public static func random(using generator: inout some RandomNumberGenerator) -> SessionID {
        let hex = (0..<3).map { _ in
            let value = generator.next() as UInt64
            let text = String(value, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }.joined().prefix(24)
        return SessionID(rawValue: "rtc_" + hex)!
    }

    public var description: String { rawValue }
}
