/// A binary frame of the backend protocol (docs/backend-protocol.md): version (1), kind
/// (1 = audio), two reserved bytes, a 32-bit sequence number and a 32-bit media time in
/// samples (both big-endian), then PCM16 little-endian mono samples at 24 kHz.
public struct BackendAudioFrame: Sendable, Equatable {
    /// The WebSocket subprotocol a backend speaking these frames answers with.
    public static let protocolName = "parley.backend.v2"
    public static let headerLength = 12
    /// One second of audio at most per frame.
    public static let maxSamples = 24_000

    public var sequence: UInt32
    public var mediaTime: UInt32
    public var samples: [Int16]

    public init(sequence: UInt32, mediaTime: UInt32, samples: [Int16]) {
        self.sequence = sequence
        self.mediaTime = mediaTime
        self.samples = samples
    }

    /// Parses a frame a backend sent; nil when it is not a version 1 audio frame of whole
    /// samples, at most `maxSamples` of them. The reserved bytes are ignored.
    public init?(bytes: [UInt8]) {
        guard bytes.count >= Self.headerLength, bytes[0] == 1, bytes[1] == 1,
              (bytes.count - Self.headerLength) % 2 == 0,
              (bytes.count - Self.headerLength) / 2 <= Self.maxSamples else { return nil }
        func word(_ at: Int) -> UInt32 { bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        sequence = word(4)
        mediaTime = word(8)
        samples = stride(from: Self.headerLength, to: bytes.count, by: 2).map {
            Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)
        }
    }

    /// The frame's bytes, reserved bytes zero.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = [1, 1, 0, 0]
        bytes.reserveCapacity(Self.headerLength + samples.count * 2)
        for word in [sequence, mediaTime] {
            bytes += [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)]
        }
        for sample in samples {
            let bits = UInt16(bitPattern: sample)
            bytes += [UInt8(truncatingIfNeeded: bits), UInt8(bits >> 8)]
        }
        return bytes
    }
}
