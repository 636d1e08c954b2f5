/// Why an SDP body (RFC 8866) or a JSEP offer or answer (RFC 8829) was rejected.
///
/// Every case says what was wrong with the input, so the signaling layer can return the
/// description to the client as-is (for example in an HTTP 400 body).
public enum SDPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A line breaks RFC 8866 §9 syntax or structure; `line` counts from 1.
    case malformed(line: Int, reason: String)
    /// The body is larger than `SDPLimits.maximumSize` bytes.
    case tooLarge(bytes: Int)
    /// No usable `m=audio` section (absent, or every one rejected with port 0).
    case noAudio
    /// An audio section exists, but none offers `opus/48000` (RFC 7587 §7 writes `opus/48000/2`) over `UDP/TLS/RTP/SAVPF`.
    case noCommonCodec
    /// No `a=fingerprint` for the DTLS transport (RFC 8122 §5, RFC 8829 §5.8).
    case noFingerprint
    /// Fingerprints are present, but none uses a hash this endpoint verifies (sha-256, sha-384, sha-512).
    case unsupportedFingerprintAlgorithm(String)
    /// `a=ice-ufrag` or `a=ice-pwd` is missing for the transport (RFC 8839 §5.4).
    case noICECredentials
    /// The `a=setup` role cannot be used here: `holdconn`, or `actpass` in an answer (RFC 8842 §3).
    case unsupportedSetup(String)

    public var description: String {
        switch self {
        case .malformed(let line, let reason):
            return "line \(line): \(reason)"
        case .tooLarge(let bytes):
            return "the SDP is \(bytes) bytes; at most \(SDPLimits.maximumSize) bytes are accepted"
        case .noAudio:
            return "the SDP has no usable m=audio section; Parley needs one audio section with a non-zero port"
        case .noCommonCodec:
            return "no audio section offers opus/48000/2 (or opus/48000) over UDP/TLS/RTP/SAVPF, the only codec Parley speaks"
        case .noFingerprint:
            return "the SDP has no a=fingerprint line for the DTLS transport"
        case .unsupportedFingerprintAlgorithm(let algorithm):
            return "a=fingerprint uses '\(algorithm)'; Parley verifies sha-256, sha-384 or sha-512 fingerprints"
        case .noICECredentials:
            return "the SDP lacks a=ice-ufrag or a=ice-pwd for the transport, at media or session level"
        case .unsupportedSetup(let role):
            return "a=setup:\(role) cannot be used here; an offer must say actpass, active or passive, an answer active or passive"
        }
    }
}

/// Bounds applied to SDP input before any parsing work.
public enum SDPLimits {
    /// Largest SDP body accepted, in UTF-8 bytes. Real offers are a few KiB; 64 KiB leaves room
    /// for many candidates while capping the work a hostile client can cause.
    public static let maximumSize = 64 * 1024
}
