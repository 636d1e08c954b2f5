import COpus

/// An Opus encoder (RFC 6716) through libopus, set up for speech: VOIP application, in-band
/// forward error correction (RFC 6716 §2.1.7) sized for 10% expected loss.
///
/// Not thread-safe: one encoder belongs to one stream on one event loop.
public final class OpusEncoder {
    public let sampleRate: Int32
    public let channels: Int32
    private let encoder: OpaquePointer

    /// The largest packet we ask libopus for; its own recommended bound (RFC 6716 §3.4 R5 allows
    /// 1275 bytes per frame, up to 3 frames at these durations).
    static let maximumPacketSize = 4000

    /// `sampleRate` is 8000, 12000, 16000, 24000 or 48000; `channels` 1 or 2; `complexity`
    /// 0…10 trades CPU for quality per bit (libopus defaults to 10).
    public init(sampleRate: Int32, channels: Int32, bitrate: Int32 = 32000, complexity: Int32 = 10) throws(OpusError) {
        var status: Int32 = OPUS_OK
        guard let encoder = opus_encoder_create(sampleRate, channels, OPUS_APPLICATION_VOIP, &status), status == OPUS_OK else {
            throw OpusError(code: status == OPUS_OK ? OPUS_ALLOC_FAIL : status)
        }
        for setting in [
            parley_opus_encoder_set_bitrate(encoder, bitrate),
            parley_opus_encoder_set_inband_fec(encoder, 1),
            parley_opus_encoder_set_packet_loss_perc(encoder, 10),
            parley_opus_encoder_set_complexity(encoder, complexity),
        ] where setting != OPUS_OK {
            opus_encoder_destroy(encoder)
            throw OpusError(code: setting)
        }
        self.sampleRate = sampleRate
        self.channels = channels
        self.encoder = encoder
    }

    deinit {
        opus_encoder_destroy(encoder)
    }

    /// Forgets the audio encoded so far, so the next packet carries none of it (a cleared
    /// answer must not leak into the next one through the codec's look-ahead).
    public func reset() {
        _ = parley_opus_encoder_reset(encoder)
    }

    /// Encodes one frame of interleaved PCM into one Opus packet. The frame size is
    /// `pcm.count / channels` samples per channel and must be 2.5, 5, 10, 20, 40 or 60 ms
    /// (e.g. 960 at 48 kHz for 20 ms); anything else throws `OPUS_BAD_ARG`.
    public func encode(_ pcm: [Int16]) throws(OpusError) -> [UInt8] {
        guard !pcm.isEmpty, pcm.count % Int(channels) == 0 else { throw OpusError(code: OPUS_BAD_ARG) }
        var length: Int32 = 0
        let packet = [UInt8](unsafeUninitializedCapacity: Self.maximumPacketSize) { buffer, initializedCount in
            length = opus_encode(encoder, pcm, Int32(pcm.count / Int(channels)), buffer.baseAddress!, Int32(buffer.count))
            initializedCount = max(0, Int(length))
        }
        guard length > 0 else { throw OpusError(code: length) }
        return packet
    }
}
