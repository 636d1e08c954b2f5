import COpenSSL

/// Why a DTLS certificate, context or association (RFC 6347, RFC 5764) failed.
/// Strings carry OpenSSL's own error text for logs.
public enum DTLSError: Error, Sendable, Equatable {
    /// The self-signed certificate or its key could not be made.
    case certificateGeneration(String)
    /// OpenSSL refused to set up a context, connection or BIO.
    case contextSetup(String)
    /// The peer's certificate does not match the fingerprint from its SDP (RFC 8122 §5,
    /// RFC 5763 §5).
    case fingerprintMismatch
    /// The handshake ended with an error or a fatal alert.
    case handshakeFailed(String)
    /// The peer never answered: OpenSSL gave up after its retransmission limit (RFC 6347 §4.2.4).
    case handshakeTimedOut
    /// The peer did not agree on an SRTP protection profile (RFC 5764 §4.1.2).
    case noSRTPProfile
    /// SRTP keys could not be exported (RFC 5764 §4.2).
    case keyExportFailed(String)
    /// A fatal error or alert ended an established association.
    case connectionFailed(String)
    /// Application data was offered before the handshake completed or after the end.
    case notConnected
    /// Application data larger than one DTLS record can carry (RFC 6347 §4.1).
    case applicationDataTooLarge(Int)
}

/// Takes every queued OpenSSL error off this thread's error queue and joins their texts.
/// OpenSSL's queue is per thread and shared by every session on it, so each failure drains it.
func drainOpenSSLErrors() -> String {
    var messages: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return messages.isEmpty ? "no OpenSSL error recorded" : messages.joined(separator: "; ")
}
