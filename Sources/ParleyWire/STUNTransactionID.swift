/// The 96-bit transaction ID of a STUN message (RFC 8489 §5), chosen uniformly at random by
/// the client so it can match responses to requests and resist forged responses.
public struct STUNTransactionID: Sendable, Hashable, CustomStringConvertible {
    /// Always 12 bytes.
    public private(set) var bytes: [UInt8]

    /// Nil unless `bytes` holds exactly 12 bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 12 else { return nil }
        self.bytes = Array(bytes)
    }

    /// A fresh ID from the system's cryptographically secure generator (RFC 8489 §5).
    public static func random() -> Self {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    /// A fresh ID from `generator`; tests pass a seeded one to get repeatable messages.
    public static func random(using generator: inout some RandomNumberGenerator) -> Self {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(12)
        for _ in 0..<12 { bytes.append(UInt8.random(in: .min ... .max, using: &generator)) }
        return Self(uncheckedBytes: bytes)
    }

    init(uncheckedBytes bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
