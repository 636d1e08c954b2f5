/// A point in time on a monotonic clock, in nanoseconds from an arbitrary origin.
///
/// Protocol cores never read a clock: the runtime passes `Instant` values in, and tests
/// inject them, so every timer in Parley is deterministic under test.
public struct Instant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    public static let zero = Instant(nanoseconds: 0)

    public static func < (lhs: Instant, rhs: Instant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    public static func + (lhs: Instant, rhs: Duration) -> Instant {
        Instant(nanoseconds: lhs.nanoseconds + rhs.nanosecondsRounded)
    }

    public static func - (lhs: Instant, rhs: Duration) -> Instant {
        Instant(nanoseconds: lhs.nanoseconds - rhs.nanosecondsRounded)
    }

    public static func - (lhs: Instant, rhs: Instant) -> Duration {
        .nanoseconds(lhs.nanoseconds - rhs.nanoseconds)
    }

    public var description: String {
        "\(Double(nanoseconds) / 1e9)s"
    }
}

extension Duration {
    /// Whole nanoseconds in this duration (attoseconds below a nanosecond are dropped).
    public var nanosecondsRounded: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// This duration in fractional milliseconds, for reports and metrics.
    public var milliseconds: Double {
        Double(nanosecondsRounded) / 1e6
    }
}

extension Optional where Wrapped == Instant {
    /// The earlier of two optional deadlines, treating `nil` as "no deadline".
    public func earliest(_ other: Instant?) -> Instant? {
        switch (self, other) {
        case let (a?, b?): return Swift.min(a, b)
        case let (a?, nil): return a
        case let (nil, b?): return b
        case (nil, nil): return nil
        }
    }
}
