/// RFC 4571 §2 framing, which ICE-TCP uses for every STUN, DTLS, RTP and RTCP packet
/// (RFC 6544 §3): on the byte stream each packet is preceded by its length as a 16-bit
/// big-endian number. A zero length is a valid (empty) frame.
public enum RFC4571Framing {
    /// The length prefix's size.
    public static let headerLength = 2
    /// The longest packet the framing can carry.
    public static let maximumPayloadLength = Int(UInt16.max)

    /// Writes the length prefix for a `payloadLength`-byte packet at the start of `buffer`;
    /// returns 2, or 0 when `buffer` is too short or the length does not fit in 16 bits.
    public static func writeHeader(payloadLength: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard buffer.count >= headerLength, (0...maximumPayloadLength).contains(payloadLength) else { return 0 }
        buffer[0] = UInt8(payloadLength >> 8)
        buffer[1] = UInt8(truncatingIfNeeded: payloadLength)
        return headerLength
    }

    /// `payload` with its length in front.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        precondition(payload.count <= maximumPayloadLength, "an RFC 4571 frame holds at most 65,535 bytes")
        return [UInt8(payload.count >> 8), UInt8(truncatingIfNeeded: payload.count)] + payload
    }
}

/// Splits an RFC 4571 byte stream (RFC 6544 §3) back into packets, as bytes arrive in pieces
/// of any size. It holds at most one partial frame: with `maxFrameLength` of 1,500 a
/// connection that never completes a frame costs at most 1,502 bytes here.
///
/// A length above `maxFrameLength` is reported once as `oversize` and the decoder stops:
/// the stream cannot be resynchronised, so its connection must close.
public struct RFC4571FrameDecoder: Sendable {
    /// What `nextFrame()` found.
    public enum Output: Sendable, Equatable {
        /// One complete packet, without its length prefix.
        case frame(ArraySlice<UInt8>)
        /// A frame announced `length` bytes, more than `maxFrameLength`.
        case oversize(length: Int)
    }

    public let maxFrameLength: Int
    private var buffer: [UInt8] = []
    private var head = 0
    private var failed = false

    public init(maxFrameLength: Int) {
        self.maxFrameLength = min(max(maxFrameLength, 0), RFC4571Framing.maximumPayloadLength)
    }

    /// Bytes received and not yet returned as frames (a partial frame, or frames not yet read).
    public var bufferedByteCount: Int { buffer.count - head }

    /// Whether a frame has been found oversize; nothing is decoded after it.
    public var hasFailed: Bool { failed }

    /// Takes the next bytes of the stream. Call `nextFrame()` until it returns nil before the
    /// next `append`, so no more than one partial frame is ever kept.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !failed, !bytes.isEmpty else { return }
        if head > 0 {
            buffer.removeSubrange(0..<head)
            head = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// `append(_:)` for bytes held in an array.
    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next complete frame, `oversize` once for a length over the limit, or nil when the
    /// bytes so far end inside a frame (or after an oversize one).
    public mutating func nextFrame() -> Output? {
        guard !failed, buffer.count - head >= RFC4571Framing.headerLength else { return nil }
        let length = Int(buffer[head]) << 8 | Int(buffer[head + 1])
        guard length <= maxFrameLength else {
            failed = true
            buffer = []
            head = 0
            return .oversize(length: length)
        }
        let start = head + RFC4571Framing.headerLength
        guard buffer.count - start >= length else { return nil }
        head = start + length
        return .frame(buffer[start..<head])
    }
}
