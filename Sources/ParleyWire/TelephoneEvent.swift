/// One named telephone event of an RTP `telephone-event` payload (RFC 4733 §2.3): DTMF keys
/// pressed on the caller's side, carried in the audio stream instead of as tones.
public struct TelephoneEvent: Sendable, Equatable {
    /// The event code (RFC 4733 §3.2: 0–9, 10 `*`, 11 `#`, 12–15 `A`–`D`).
    public var code: UInt8
    /// The E bit: this packet ends the event (it is sent three times, §2.5.1.4).
    public var isEnd: Bool
    /// Power level in -dBm0, 0–63 (§2.5.2.2).
    public var volume: UInt8
    /// How long the event has lasted, in RTP timestamp units of its clock (§2.5.1.3).
    public var duration: UInt16

    /// Reads the first event of a payload; nil when it is shorter than the 4 bytes of one.
    public init?(payload: some Collection<UInt8>) {
        let bytes = Array(payload.prefix(4))
        guard bytes.count == 4 else { return nil }
        code = bytes[0]
        isEnd = bytes[1] & 0x80 != 0
        volume = bytes[1] & 0x3F
        duration = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
    }

    public init(code: UInt8, isEnd: Bool, volume: UInt8 = 10, duration: UInt16) {
        self.code = code
        self.isEnd = isEnd
        self.volume = volume
        self.duration = duration
    }

    /// The payload carrying this event alone.
    public var payload: [UInt8] {
        [code, (isEnd ? 0x80 : 0) | (volume & 0x3F), UInt8(duration >> 8), UInt8(truncatingIfNeeded: duration)]
    }

    /// The DTMF key (RFC 4733 §3.2, table 1), or nil for a code beyond the 16 keys.
    public var key: String? {
        let keys = Array("0123456789*#ABCD")
        return code < 16 ? String(keys[Int(code)]) : nil
    }
}
