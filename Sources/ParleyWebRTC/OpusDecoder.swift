import COpus

/// An Opus decoder (RFC 6716) through libopus, with packet loss concealment and recovery
/// from in-band FEC (RFC 6716 §2.1.7).
///
/// Not thread-safe: one decoder belongs to one stream on one event loop.
public final class OpusDecoder {
    public let sampleRate: Int32
    public let channels: Int32
    private let decoder: OpaquePointer

    /// `sampleRate` is 8000, 12000, 16000, 24000 or 48000; `channels` 1 or 2.
    public init(sampleRate: Int32, channels: Int32) throws(OpusError) {
        var status: Int32 = OPUS_OK
        guard let decoder = opus_decoder_create(sampleRate, channels, &status), status == OPUS_OK else {
            throw OpusError(code: status == OPUS_OK ? OPUS_ALLOC_FAIL : status)
        }
        self.sampleRate = sampleRate
        self.channels = channels
        self.decoder = decoder
    }

    deinit {
        opus_decoder_destroy(decoder)
    }

    /// Samples per channel in the longest packet Opus allows: 120 ms (RFC 6716 §3.2.5).
    private var maximumFrameSize: Int { Int(sampleRate) * 120 / 1000 }

    /// Decodes one packet into interleaved PCM. An empty packet is invalid (RFC 6716 §3.4 R1)
    /// and throws `OPUS_INVALID_PACKET`, as does any packet libopus rejects.
    public func decode(_ packet: [UInt8]) throws(OpusError) -> [Int16] {
        guard !packet.isEmpty, packet.count <= Int(Int32.max) else { throw OpusError(code: OPUS_INVALID_PACKET) }
        return try run(packet: packet, frameSize: maximumFrameSize, recoverFEC: false)
    }

    /// Conceals one lost packet (RFC 6716 §4.4): `frameSize` samples per channel, a multiple
    /// of 2.5 ms (e.g. 960 at 48 kHz for 20 ms).
    public func decodeMissing(frameSize: Int) throws(OpusError) -> [Int16] {
        try run(packet: nil, frameSize: frameSize, recoverFEC: false)
    }

    /// Rebuilds a lost packet of `frameSize` samples per channel from the in-band FEC data
    /// carried by the packet after it (RFC 6716 §2.1.7); concealment if it carries none.
    public func decodeMissing(frameSize: Int, fromNext nextPacket: [UInt8]) throws(OpusError) -> [Int16] {
        guard !nextPacket.isEmpty, nextPacket.count <= Int(Int32.max) else { throw OpusError(code: OPUS_INVALID_PACKET) }
        return try run(packet: nextPacket, frameSize: frameSize, recoverFEC: true)
    }

    private func run(packet: [UInt8]?, frameSize: Int, recoverFEC: Bool) throws(OpusError) -> [Int16] {
        guard frameSize > 0, frameSize <= maximumFrameSize else { throw OpusError(code: OPUS_BAD_ARG) }
        var samples: Int32 = 0
        let pcm = [Int16](unsafeUninitializedCapacity: frameSize * Int(channels)) { buffer, initializedCount in
            if let packet {
                samples = opus_decode(decoder, packet, Int32(packet.count), buffer.baseAddress!, Int32(frameSize), recoverFEC ? 1 : 0)
            } else {
                samples = opus_decode(decoder, nil, 0, buffer.baseAddress!, Int32(frameSize), 0)
            }
            initializedCount = max(0, Int(samples) * Int(channels))
        }
        guard samples >= 0 else { throw OpusError(code: samples) }
        return pcm
    }
}
