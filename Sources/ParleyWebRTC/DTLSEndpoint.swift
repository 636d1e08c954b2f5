import COpenSSL
import ParleyWire

/// A DTLS 1.2 (RFC 6347) endpoint for DTLS-SRTP (RFC 5764), sans-IO: datagrams and the time
/// come in through `handle(_:now:)` and `handleTimeout(now:)`; datagrams to send, events and
/// the next deadline come out through the polls. OpenSSL does the protocol and the crypto
/// over a custom BIO that keeps datagram boundaries (`DTLSDatagramBIO`, which also explains
/// how retransmission follows injected time).
///
/// The peer is authenticated by its certificate's fingerprint from SDP (RFC 5763 §5,
/// RFC 8122 §5); any other certificate ends the handshake with `.failed(.fingerprintMismatch)`.
/// Invalid records are dropped silently (RFC 6347 §4.1.2.7); a fatal alert or error ends the
/// endpoint with one `.failed` event, after which input is ignored.
///
/// Not thread-safe: one endpoint lives on one event loop, like the session that owns it.
public final class DTLSEndpoint {
    public enum Event: Sendable, Equatable {
        /// The handshake completed, the peer matched its fingerprint, and SRTP keys are ready.
        case connected(SRTPKeyingMaterial)
        /// One record of application data (RFC 6347 §4.1), e.g. an SCTP packet.
        case applicationData([UInt8])
        /// The peer sent close_notify (RFC 5246 §7.2.1); we answered with ours.
        case closed
        case failed(DTLSError)
    }

    private enum State {
        case handshaking, connected, closed, failed
    }

    /// The largest application data one `send` accepts: one DTLS record's plaintext (RFC 6347 §4.1).
    public static let maximumApplicationDataSize = 16_384

    private let role: DTLSRole
    private let ssl: OpaquePointer
    private let link: DTLSDatagramBIO
    private var state = State.handshaking
    /// The shortest encrypted record the negotiated cipher suite can produce; see `isForged(_:)`.
    private var minimumProtectedRecordLength = 0
    private var events = FIFO<Event>()
    /// Handshaking or connected: not yet closed or failed.
    private var isActive: Bool { state == .handshaking || state == .connected }

    /// Sets up an endpoint that will authenticate the peer by `remoteFingerprint`.
    public init(role: DTLSRole, certificate: DTLSCertificate, remoteFingerprint: DTLSFingerprint, now: Instant) throws(DTLSError) {
        ERR_clear_error()
        let link = DTLSDatagramBIO(remoteFingerprint: remoteFingerprint, now: now)
        guard let ssl = SSL_new(certificate.context) else { throw .contextSetup(drainOpenSSLErrors()) }
        guard let bio = link.makeBIO() else {
            SSL_free(ssl)
            throw .contextSetup(drainOpenSSLErrors())
        }
        SSL_set_bio(ssl, bio, bio)
        DTLSDatagramBIO.installTimer(on: ssl)
        switch role {
        case .client: SSL_set_connect_state(ssl)
        case .server: SSL_set_accept_state(ssl)
        }
        self.role = role
        self.ssl = ssl
        self.link = link
    }

    deinit {
        SSL_free(ssl)
    }

    /// True between `.connected` and the end of the association.
    public var isConnected: Bool { state == .connected }

    /// A client sends its ClientHello; a server does nothing and waits for one.
    public func start(now: Instant) {
        guard role == .client, state == .handshaking else { return }
        advance(now: now)
    }

    /// Processes one received datagram, which may hold several records (RFC 6347 §4.1.1).
    public func handle(_ datagram: [UInt8], now: Instant) {
        guard isActive, !datagram.isEmpty, !isForged(datagram) else { return }
        link.receive(datagram)
        advance(now: now)
        link.discardInbound()
    }

    /// Retransmits the last flight if the retransmission timer expired (RFC 6347 §4.2.4), by
    /// injected time: see `DTLSDatagramBIO` for how OpenSSL's own timer is made to agree.
    public func handleTimeout(now: Instant) {
        guard isActive, let deadline = link.deadline, now >= deadline else { return }
        link.now = now
        ERR_clear_error()
        link.expireOpenSSLTimer()
        let result = parley_dtls_handle_timeout(ssl)
        link.holdOpenSSLTimer()
        switch result {
        case 1:
            // Retransmitted; OpenSSL restarted its timer, which moved `link.deadline`.
            break
        case 0:
            // Only when the BIO cannot hold OpenSSL's timer (OpenSSL other than 3.0): its real
            // clock has not reached the deadline yet. Come back when it will have, or drop the
            // deadline if the timer stopped meanwhile.
            var left = timeval()
            if parley_dtls_get_timeout(ssl, &left) == 1 {
                let wait = Duration.seconds(left.tv_sec) + .microseconds(left.tv_usec)
                link.deadline = now + max(wait, .milliseconds(1))
            } else {
                link.deadline = nil
            }
        default:
            fail(state == .handshaking ? .handshakeTimedOut : .connectionFailed(drainOpenSSLErrors()))
        }
    }

    /// The next datagram to send, in order. OpenSSL writes every handshake message in a record
    /// and datagram of its own; consecutive handshake and change_cipher_spec records are put
    /// together here, as many as fit `DTLSDatagramBIO.maximumDatagramSize` (RFC 6347 §4.1.1
    /// allows several records per datagram), so a flight takes one datagram where it fits:
    /// fewer packets to lose, and one datagram for SPED to embed in one STUN message.
    public func pollTransmit() -> [UInt8]? {
        guard var datagram = link.popTransmit() else { return nil }
        while Self.isHandshake(datagram), let next = link.nextTransmit, Self.isHandshake(next),
              datagram.count + next.count <= DTLSDatagramBIO.maximumDatagramSize, let record = link.popTransmit() {
            datagram += record
        }
        return datagram
    }

    /// True for a datagram that starts with a change_cipher_spec (20) or handshake (22) record.
    private static func isHandshake(_ datagram: [UInt8]) -> Bool {
        datagram.first == 20 || datagram.first == 22
    }

    public func pollEvent() -> Event? {
        events.popFirst()
    }

    /// When `handleTimeout(now:)` should next be called: the retransmission deadline, in
    /// injected time, while a flight awaits its answer.
    public func nextDeadline() -> Instant? {
        isActive ? link.deadline : nil
    }

    /// Sends `applicationData` as one record in one datagram (RFC 6347 §4.1). Keep it within
    /// the path MTU: DTLS does not fragment application data.
    public func send(_ applicationData: [UInt8]) throws(DTLSError) {
        guard state == .connected else { throw .notConnected }
        guard applicationData.count <= Self.maximumApplicationDataSize else {
            throw .applicationDataTooLarge(applicationData.count)
        }
        guard !applicationData.isEmpty else { return }
        ERR_clear_error()
        let written = SSL_write(ssl, applicationData, Int32(applicationData.count))
        guard written == Int32(applicationData.count) else {
            let error = DTLSError.connectionFailed(drainOpenSSLErrors())
            fail(error)
            throw error
        }
    }

    /// Sends close_notify (RFC 5246 §7.2.1) and ends the endpoint. No event is reported
    /// locally; the peer sees `.closed`.
    public func close() {
        guard isActive else { return }
        ERR_clear_error()
        SSL_shutdown(ssl)
        ERR_clear_error()
        state = .closed
        link.deadline = nil
    }

    // MARK: Driving OpenSSL

    private func advance(now: Instant) {
        link.now = now
        ERR_clear_error()
        if state == .handshaking {
            let result = SSL_do_handshake(ssl)
            if result == 1 {
                completeHandshake()
            } else {
                handleFailure(of: result, duringHandshake: true)
            }
        }
        if state == .connected {
            readApplicationData()
        }
    }

    private func completeHandshake() {
        guard let peer = SSL_get0_peer_certificate(ssl),
              DTLSFingerprint.of(certificate: peer, algorithm: link.remoteFingerprint.algorithm) == link.remoteFingerprint
        else {
            return fail(.fingerprintMismatch)
        }
        guard let selected = SSL_get_selected_srtp_profile(ssl),
              let profile = SRTPProfile(protectionProfileID: selected.pointee.id) else {
            return fail(.noSRTPProfile)
        }
        let label = "EXTRACTOR-dtls_srtp"
        var exported = [UInt8](repeating: 0, count: 2 * (profile.keyLength + profile.saltLength))
        guard SSL_export_keying_material(ssl, &exported, exported.count, label, label.utf8.count, nil, 0, 0) == 1,
              let keying = SRTPKeyingMaterial(exported: exported, profile: profile, role: role) else {
            return fail(.keyExportFailed(drainOpenSSLErrors()))
        }
        state = .connected
        minimumProtectedRecordLength = Self.minimumProtectedRecordLength(cipher: SSL_get_current_cipher(ssl))
        events.append(.connected(keying))
    }

    /// True if the datagram holds a protected record (epoch above 0, RFC 6347 §4.1) too short
    /// to be real for the negotiated suite. RFC 6347 §4.1.2.7 says to drop invalid records
    /// silently, but OpenSSL 3.0 answers such a record with a fatal internal_error alert, so
    /// one forged datagram would end the association; we drop it before OpenSSL sees it.
    private func isForged(_ datagram: [UInt8]) -> Bool {
        guard minimumProtectedRecordLength > 0 else { return false }
        let headerLength = 13
        var offset = 0
        while datagram.count - offset >= headerLength {
            let epoch = Int(datagram[offset + 3]) << 8 | Int(datagram[offset + 4])
            let length = Int(datagram[offset + 11]) << 8 | Int(datagram[offset + 12])
            if epoch > 0 && length < minimumProtectedRecordLength { return true }
            offset += headerLength + length
        }
        return false
    }

    /// Explicit nonce and tag for AES-GCM (RFC 5288 §3), tag for ChaCha20-Poly1305 (RFC 7905 §2),
    /// IV plus the smallest padded HMAC-SHA1 for CBC suites (RFC 5246 §6.2.3.2).
    private static func minimumProtectedRecordLength(cipher: OpaquePointer?) -> Int {
        guard let cipher else { return 0 }
        switch SSL_CIPHER_get_cipher_nid(cipher) {
        case NID_aes_128_gcm, NID_aes_256_gcm: return 8 + 16
        case NID_chacha20_poly1305: return 16
        default: return 16 + 32
        }
    }

    private func readApplicationData() {
        // Scratch space for one record; each record read is copied out into its own event.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.maximumApplicationDataSize) { buffer in
            while state == .connected {
                let count = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
                guard count > 0 else {
                    handleFailure(of: count, duringHandshake: false)
                    return
                }
                events.append(.applicationData(Array(UnsafeBufferPointer(rebasing: buffer[..<Int(count)]))))
            }
        }
    }

    /// Interprets a non-positive result of `SSL_do_handshake` or `SSL_read`.
    private func handleFailure(of result: Int32, duringHandshake: Bool) {
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            ERR_clear_error()
        case SSL_ERROR_ZERO_RETURN:
            // close_notify: answer with ours (RFC 5246 §7.2.1), then stop.
            close()
            events.append(.closed)
        default:
            if link.rejectedFingerprint {
                ERR_clear_error()
                fail(.fingerprintMismatch)
            } else {
                let message = drainOpenSSLErrors()
                fail(duringHandshake ? .handshakeFailed(message) : .connectionFailed(message))
            }
        }
    }

    private func fail(_ error: DTLSError) {
        guard isActive else { return }
        state = .failed
        link.deadline = nil
        events.append(.failed(error))
    }
}
