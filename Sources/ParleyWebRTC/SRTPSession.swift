import CSRTP

/// Why an SRTP or SRTCP packet (RFC 3711) could not be protected or unprotected.
public enum SRTPError: Error, Sendable, Equatable {
    /// The authentication tag did not verify (RFC 3711 §3.3 step 5, RFC 7714 §8.3).
    case authenticationFailed
    /// The packet index was already seen or is behind the replay window (RFC 3711 §3.3.2).
    case replay
    /// Too short or not RTP/RTCP version 2 (RFC 3550 §5.1, §6.4).
    case malformed
    /// The keying material's key or salt length does not fit its profile.
    case invalidKeyLength
    /// Any other libsrtp2 status code (`srtp_err_status_t`).
    case library(Int32)
}

/// libsrtp2 must be initialised once per process before any session; a global `let` runs its
/// initialiser exactly once, thread-safely, on first use.
private let srtpLibraryStatus: Int32 = Int32(bitPattern: srtp_init().rawValue)

/// SRTP and SRTCP (RFC 3711) through libsrtp2: one outbound session keyed with our keys for
/// every SSRC we send, one inbound session keyed with the peer's for every SSRC it sends.
/// Profiles: AEAD_AES_128_GCM (RFC 7714) and AES_CM_128_HMAC_SHA1_80 (RFC 3711 §4, RFC 5764).
///
/// Protecting a sequence number twice throws `.replay`, since re-encrypting it with another
/// payload would reuse keystream; resend a packet by resending its protected bytes.
/// Not thread-safe: one session belongs to one event loop.
public final class SRTPSession {
    /// Runs libsrtp2's one-time initialisation (its cipher self-tests take about 15 ms) now
    /// rather than inside the first call's DTLS handshake. Runtimes call it at start.
    @discardableResult
    public static func prepareLibrary() -> Bool {
        srtpLibraryStatus == 0
    }

    /// Replay window, in packets (RFC 3711 §3.3.2 asks for at least 64); wide enough for the
    /// reordering a jitter buffer tolerates.
    static let replayWindow: UInt = 1024

    private let outbound: srtp_t
    private let inbound: srtp_t

    /// Creates the two sessions from DTLS-SRTP keys (RFC 5764 §4.2).
    public init(keying: SRTPKeyingMaterial) throws(SRTPError) {
        guard srtpLibraryStatus == 0 else { throw .library(srtpLibraryStatus) }
        let profile = keying.profile
        for (key, salt) in [(keying.localKey, keying.localSalt), (keying.remoteKey, keying.remoteSalt)]
        where key.count != profile.keyLength || salt.count != profile.saltLength {
            throw .invalidKeyLength
        }
        outbound = try Self.makeSession(profile: profile, key: keying.localKey + keying.localSalt, direction: ssrc_any_outbound)
        do {
            inbound = try Self.makeSession(profile: profile, key: keying.remoteKey + keying.remoteSalt, direction: ssrc_any_inbound)
        } catch {
            srtp_dealloc(outbound)
            throw error
        }
    }

    deinit {
        srtp_dealloc(outbound)
        srtp_dealloc(inbound)
    }

    /// Encrypts and authenticates an RTP packet (RFC 3711 §3.3).
    public func protectRTP(_ packet: [UInt8]) throws(SRTPError) -> [UInt8] {
        try Self.check(rtp: packet)
        return try Self.transform(packet, extraCapacity: Int(PARLEY_SRTP_MAX_PROTECT_OVERHEAD)) { buffer, length in
            srtp_protect(outbound, buffer, length)
        }
    }

    /// Authenticates and decrypts an SRTP packet (RFC 3711 §3.3), with replay protection.
    public func unprotectRTP(_ packet: [UInt8]) throws(SRTPError) -> [UInt8] {
        try Self.check(rtp: packet)
        return try Self.transform(packet, extraCapacity: 0) { buffer, length in
            srtp_unprotect(inbound, buffer, length)
        }
    }

    /// Encrypts and authenticates a (compound) RTCP packet (RFC 3711 §3.4).
    public func protectRTCP(_ packet: [UInt8]) throws(SRTPError) -> [UInt8] {
        try Self.check(rtcp: packet)
        return try Self.transform(packet, extraCapacity: Int(PARLEY_SRTP_MAX_PROTECT_OVERHEAD)) { buffer, length in
            srtp_protect_rtcp(outbound, buffer, length)
        }
    }

    /// Authenticates and decrypts an SRTCP packet (RFC 3711 §3.4), with replay protection.
    public func unprotectRTCP(_ packet: [UInt8]) throws(SRTPError) -> [UInt8] {
        try Self.check(rtcp: packet)
        return try Self.transform(packet, extraCapacity: 0) { buffer, length in
            srtp_unprotect_rtcp(inbound, buffer, length)
        }
    }

    // MARK: libsrtp2

    /// Largest packet accepted: a UDP payload.
    private static let maximumPacketSize = 65_507

    private static func makeSession(profile: SRTPProfile, key: [UInt8], direction: srtp_ssrc_type_t) throws(SRTPError) -> srtp_t {
        var policy = srtp_policy_t()
        switch profile {
        case .aeadAES128GCM:
            srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp)
            srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp)
        case .aes128CMHMACSHA1_80:
            // libsrtp names AES_CM_128_HMAC_SHA1_80 its default, for RTP and RTCP alike.
            srtp_crypto_policy_set_rtp_default(&policy.rtp)
            srtp_crypto_policy_set_rtcp_default(&policy.rtcp)
        }
        policy.ssrc.type = direction
        policy.window_size = replayWindow
        policy.allow_repeat_tx = 0
        policy.next = nil
        var session: srtp_t?
        var keyBytes = key
        let status = keyBytes.withUnsafeMutableBufferPointer { keyBuffer in
            policy.key = keyBuffer.baseAddress
            return srtp_create(&session, &policy)
        }
        guard status == srtp_err_status_ok, let session else {
            throw error(for: status)
        }
        return session
    }

    private static func check(rtp packet: [UInt8]) throws(SRTPError) {
        // Fixed header (RFC 3550 §5.1) and version 2.
        guard packet.count >= 12, packet.count <= maximumPacketSize, packet[0] >> 6 == 2 else { throw .malformed }
    }

    private static func check(rtcp packet: [UInt8]) throws(SRTPError) {
        // Common header with sender SSRC (RFC 3550 §6.4) and version 2.
        guard packet.count >= 8, packet.count <= maximumPacketSize, packet[0] >> 6 == 2 else { throw .malformed }
    }

    /// Runs one libsrtp2 transform on a copy of `packet` with `extraCapacity` bytes of room for
    /// the tag: one allocation per packet, the result is the buffer itself.
    private static func transform(
        _ packet: [UInt8],
        extraCapacity: Int,
        _ operation: (UnsafeMutableRawPointer, UnsafeMutablePointer<Int32>) -> srtp_err_status_t
    ) throws(SRTPError) -> [UInt8] {
        let capacity = packet.count + extraCapacity
        var status = srtp_err_status_bad_param
        let result = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initializedCount in
            initializedCount = 0
            guard let base = buffer.baseAddress else { return }
            packet.withUnsafeBufferPointer { source in
                base.initialize(from: source.baseAddress!, count: source.count)
            }
            var length = Int32(packet.count)
            status = operation(base, &length)
            if status == srtp_err_status_ok, length >= 0, Int(length) <= capacity {
                initializedCount = Int(length)
            } else if status == srtp_err_status_ok {
                status = srtp_err_status_bad_param
            }
        }
        guard status == srtp_err_status_ok else { throw error(for: status) }
        return result
    }

    private static func error(for status: srtp_err_status_t) -> SRTPError {
        switch status {
        case srtp_err_status_auth_fail, srtp_err_status_cipher_fail: .authenticationFailed
        case srtp_err_status_replay_fail, srtp_err_status_replay_old, srtp_err_status_pkt_idx_old: .replay
        case srtp_err_status_bad_param, srtp_err_status_parse_err: .malformed
        default: .library(Int32(bitPattern: status.rawValue))
        }
    }
}
