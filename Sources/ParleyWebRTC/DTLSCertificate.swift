import COpenSSL

/// Which side of the DTLS handshake this endpoint plays (RFC 5763 §5: from SDP `a=setup`).
public enum DTLSRole: Sendable {
    case client, server
}

/// A self-signed ECDSA P-256 certificate, made once at start and shared by every session
/// (RFC 8827 §6.5), with the OpenSSL context that every DTLS endpoint using it is created from.
///
/// `@unchecked Sendable` is sound: every stored property is set in `init` and never changed.
/// The `SSL_CTX` is only read after setup (`SSL_new` takes a reference under OpenSSL's own
/// lock), which OpenSSL documents as safe from several threads at once.
public final class DTLSCertificate: @unchecked Sendable {
    /// The sha-256 fingerprint to put in SDP `a=fingerprint` (RFC 8122 §5).
    public let fingerprint: DTLSFingerprint
    /// `SSL_CTX` configured for DTLS-SRTP; client and server share it since their settings match.
    let context: OpaquePointer

    /// Cipher suites for WebRTC: ECDHE with AEAD first. Our key is ECDSA, so as a server only
    /// the ECDSA suites can be chosen; the RSA ones let us be a client to an RSA-keyed peer.
    static let cipherList = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA",
    ].joined(separator: ":")

    private init(fingerprint: DTLSFingerprint, context: OpaquePointer) {
        self.fingerprint = fingerprint
        self.context = context
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// Makes a P-256 key and a self-signed certificate (random serial, valid from a day ago
    /// for a year; peers check only the fingerprint, RFC 8827 §6.5) and its DTLS context.
    /// `srtpProfiles` are offered (client) or chosen from (server) in this order of preference
    /// (RFC 5764 §4.1.1); the default prefers AEAD_AES_128_GCM (RFC 7714).
    public static func generateSelfSigned(
        commonName: String = "parley",
        srtpProfiles: [SRTPProfile] = [.aeadAES128GCM, .aes128CMHMACSHA1_80]
    ) throws(DTLSError) -> DTLSCertificate {
        guard !srtpProfiles.isEmpty else { throw .noSRTPProfile }
        ERR_clear_error()
        guard let key = parley_evp_ec_gen("P-256") else {
            throw .certificateGeneration(drainOpenSSLErrors())
        }
        defer { EVP_PKEY_free(key) }
        guard let certificate = X509_new() else { throw .certificateGeneration(drainOpenSSLErrors()) }
        defer { X509_free(certificate) }

        var serial = [UInt8](repeating: 0, count: 8)
        guard RAND_bytes(&serial, Int32(serial.count)) == 1,
              let serialNumber = BN_bin2bn(serial, Int32(serial.count), nil) else {
            throw .certificateGeneration(drainOpenSSLErrors())
        }
        defer { BN_free(serialNumber) }
        let name = X509_get_subject_name(certificate)
        let built = X509_set_version(certificate, 2) == 1
            && BN_to_ASN1_INTEGER(serialNumber, X509_get_serialNumber(certificate)) != nil
            && X509_gmtime_adj(X509_getm_notBefore(certificate), -86_400) != nil
            && X509_gmtime_adj(X509_getm_notAfter(certificate), 365 * 86_400) != nil
            && X509_NAME_add_entry_by_txt(name, "CN", PARLEY_MBSTRING_ASC, commonName, -1, -1, 0) == 1
            && X509_set_issuer_name(certificate, name) == 1
            && X509_set_pubkey(certificate, key) == 1
            && X509_sign(certificate, key, EVP_sha256()) > 0
        guard built, let fingerprint = DTLSFingerprint.of(certificate: certificate, algorithm: "sha-256") else {
            throw .certificateGeneration(drainOpenSSLErrors())
        }
        let profileList = srtpProfiles.map(\.openSSLName).joined(separator: ":")
        let context = try makeContext(certificate: certificate, key: key, srtpProfiles: profileList)
        return DTLSCertificate(fingerprint: fingerprint, context: context)
    }

    /// DTLS 1.2 only (RFC 8827 §6.5), ECDHE suites, use_srtp (RFC 5764 §4.1.1), no session
    /// resumption, and a peer certificate required both ways; `DTLSDatagramBIO`'s certificate
    /// verify callback accepts it only if it matches the remote fingerprint.
    private static func makeContext(
        certificate: OpaquePointer,
        key: OpaquePointer,
        srtpProfiles: String
    ) throws(DTLSError) -> OpaquePointer {
        guard let context = SSL_CTX_new(DTLS_method()) else { throw .contextSetup(drainOpenSSLErrors()) }
        let configured = parley_ssl_ctx_set_proto_versions(context, DTLS1_2_VERSION, DTLS1_2_VERSION) == 1
            && SSL_CTX_set_cipher_list(context, cipherList) == 1
            && SSL_CTX_use_certificate(context, certificate) == 1
            && SSL_CTX_use_PrivateKey(context, key) == 1
            && SSL_CTX_check_private_key(context) == 1
            && SSL_CTX_set_tlsext_use_srtp(context, srtpProfiles) == 0
        guard configured else {
            SSL_CTX_free(context)
            throw .contextSetup(drainOpenSSLErrors())
        }
        SSL_CTX_set_options(
            context,
            PARLEY_SSL_OP_NO_TICKET | PARLEY_SSL_OP_NO_RENEGOTIATION | PARLEY_SSL_OP_CIPHER_SERVER_PREFERENCE
        )
        parley_ssl_ctx_disable_session_cache(context)
        // Thousands of mostly idle sessions: a connection holds record buffers only while
        // it reads or writes, not for its whole life.
        parley_ssl_ctx_release_buffers(context)
        // RFC 8827 §6.5: the peer's certificate is trusted because its fingerprint is the one
        // signaled in SDP, not through a chain, so the fingerprint check replaces OpenSSL's
        // chain verification (which would only re-check the self-signature: one ECDSA verify
        // per handshake). The handshake still verifies CertificateVerify, which proves the
        // peer holds the certificate's key.
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        SSL_CTX_set_cert_verify_callback(context, { store, _ in
            DTLSDatagramBIO.verifyPeerCertificate(store: store)
        }, nil)
        return context
    }
}
