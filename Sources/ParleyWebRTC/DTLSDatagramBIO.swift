import COpenSSL
import ParleyWire

/// The state OpenSSL's callbacks share with one `DTLSEndpoint`: a custom BIO's datagram
/// queues, the retransmission timer seen through injected time, and the peer check.
///
/// A memory BIO would merge consecutive DTLS datagrams into one byte stream; this BIO keeps
/// every write as its own datagram and hands OpenSSL exactly one received datagram per read,
/// which is the contract of a datagram socket that DTLS relies on (RFC 6347 §4.1.1).
///
/// ## Timers
/// OpenSSL runs the DTLS retransmission timer on the real clock (`gettimeofday`) and cannot be
/// told the time. It does let us choose each timeout's duration (`DTLS_set_timer_cb`), and it
/// reports each start and stop of its timer to the BIO (`BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT`). So:
/// - the timer callback picks the durations: 100 ms first, doubling, capped at 2 s. RFC 6347
///   §4.2.4.1 suggests 1 s, but a voice session's handshake is on the critical path of the
///   first audio and WebRTC stacks use shorter first timeouts; the cap keeps a lossy path
///   retrying often, and OpenSSL still gives up after 12 retransmissions (about 19 s);
/// - when OpenSSL starts its timer, our deadline becomes the injected `now` plus that same
///   duration; when it stops the timer, we drop the deadline. `nextDeadline()` is therefore
///   derived from injected time only.
///
/// ### Holding OpenSSL's timer (OpenSSL 3.0)
/// In OpenSSL 3.0 the timer is the `struct timeval next_timeout` inside the connection's DTLS
/// state (`SSL.d1`): `dtls1_start_timer` writes the real time plus the duration into it and
/// then calls `BIO_ctrl(rbio, BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT, 0, &d1->next_timeout)`;
/// `dtls1_stop_timer` zeroes it and makes the same call. Apart from `SSL_clear` zeroing the
/// whole DTLS state before a first handshake (when no timer runs yet) and a branch for SCTP
/// BIOs (not ours), those two are its only writers, and each write is followed by that call, so
/// the BIO sees every new value and the address it lives at. OpenSSL reads it only to decide whether the timer runs (zero
/// means stopped) and whether it expired (`dtls1_get_timeout`, `dtls1_is_timer_expired`, used
/// by `DTLSv1_handle_timeout` and by a read that finds no data, `dtls1_read_bytes` and
/// `dtls1_read_failed`, which retransmit by themselves once it expired).
///
/// When the BIO sees a running timer it keeps that address and overwrites the value with an
/// instant far in the future: the timer still runs as far as OpenSSL is concerned (so a restart
/// keeps the current duration, as `dtls1_start_timer` expects), but it never expires by the real
/// clock, so no read retransmits on its own. When the injected deadline has passed,
/// `expireOpenSSLTimer()` writes a non-zero instant in 1970 just before
/// `DTLSv1_handle_timeout`, which then finds the timer expired and retransmits; its restart of
/// the timer comes back through the BIO and is held again (`holdOpenSSLTimer()` re-holds it if
/// OpenSSL failed instead). Retransmission thus follows injected time only.
///
/// The address stays valid while it is held: `d1` is allocated with the `SSL` and freed by
/// `SSL_free`, or by `SSL_clear` after a version switch, which OpenSSL calls only when a
/// handshake starts on a connection not in its handshake, and `DTLSEndpoint` runs exactly one
/// handshake per `SSL` and frees the `SSL` (and the BIO with this object's pointer) in its
/// `deinit`. A stop of the timer releases the address.
///
/// Later versions (3.2 onwards at least) pass a copy of the timer on the stack instead, which
/// must not be kept; `holdsOpenSSLTimer` is therefore true for OpenSSL 3.0.x only, the Debian 12
/// `libssl3` Parley is built and tested against (its 3.0.19 passes `&d1->next_timeout` from
/// both functions, and a test that loses flights fails without the hold).
/// With any other version OpenSSL keeps its real-clock timer, and `DTLSEndpoint.handleTimeout`
/// retries when that clock will have passed it: in the runtime both clocks agree, while a test
/// in virtual time would need real time to pass.
final class DTLSDatagramBIO {
    /// The largest datagram OpenSSL may write: a UDP payload safe on any Internet path
    /// with room for the relay's encapsulation.
    static let maximumDatagramSize = 1200
    static let initialTimeoutMicroseconds: UInt32 = 100_000
    static let maximumTimeoutMicroseconds: UInt32 = 2_000_000
    /// True when the linked OpenSSL hands the BIO the address of its own timer (3.0.x).
    static let holdsOpenSSLTimer = OpenSSL_version_num() >> 20 == 0x300
    /// Far beyond any real clock, so a held timer never expires by itself.
    private static let heldTimerValue = timeval(tv_sec: 1 << 62, tv_usec: 0)
    /// Non-zero (a running timer) and long past, so OpenSSL sees an expired timer.
    private static let expiredTimerValue = timeval(tv_sec: 1, tv_usec: 0)

    let remoteFingerprint: DTLSFingerprint
    /// The injected time of the call into OpenSSL in progress.
    var now: Instant
    /// When OpenSSL's retransmission timer expires, in injected time; nil when it is stopped.
    var deadline: Instant?
    /// Set when the verify callback rejected the peer certificate for its fingerprint.
    var rejectedFingerprint = false
    private var timeoutMicroseconds: UInt32 = 0
    /// OpenSSL's own timer while it runs and `holdsOpenSSLTimer`; see "Holding OpenSSL's timer".
    private var openSSLTimer: UnsafeMutablePointer<timeval>?
    /// The datagram being handed to OpenSSL: `DTLSEndpoint.handle` gives one, lets OpenSSL
    /// read it, then discards what is left, so there is never more than one.
    private var inbound: [UInt8]?
    private var outbound = FIFO<[UInt8]>()

    init(remoteFingerprint: DTLSFingerprint, now: Instant) {
        self.remoteFingerprint = remoteFingerprint
        self.now = now
    }

    func receive(_ datagram: [UInt8]) {
        inbound = datagram
    }

    func discardInbound() {
        inbound = nil
    }

    func popTransmit() -> [UInt8]? {
        outbound.popFirst()
    }

    /// The datagram `popTransmit()` would return, left in place.
    var nextTransmit: [UInt8]? { outbound.first }

    private func popInbound() -> [UInt8]? {
        defer { inbound = nil }
        return inbound
    }

    /// A new `BIO` of our method, pointing at `self` without retaining it: the endpoint owns
    /// both and frees the `SSL` (and with it the BIO) before releasing `self`.
    func makeBIO() -> OpaquePointer? {
        guard let method = datagramBIOMethod, let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        return bio
    }

    static func from(bio: OpaquePointer?) -> DTLSDatagramBIO? {
        guard let bio, let data = BIO_get_data(bio) else { return nil }
        return Unmanaged<DTLSDatagramBIO>.fromOpaque(data).takeUnretainedValue()
    }

    static func from(ssl: OpaquePointer?) -> DTLSDatagramBIO? {
        guard let ssl else { return nil }
        return from(bio: SSL_get_rbio(ssl))
    }

    // MARK: OpenSSL callbacks

    fileprivate static func read(bio: OpaquePointer?, into buffer: UnsafeMutablePointer<CChar>?, size: Int32) -> Int32 {
        guard let bio, let buffer, size > 0, let link = from(bio: bio) else { return -1 }
        parley_bio_clear_retry_flags(bio)
        guard let datagram = link.popInbound() else {
            parley_bio_set_retry_read(bio)
            return -1
        }
        // A datagram larger than the buffer is truncated, as a datagram socket would do.
        let count = min(datagram.count, Int(size))
        datagram.withUnsafeBytes { bytes in
            guard let source = bytes.baseAddress, count > 0 else { return }
            UnsafeMutableRawPointer(buffer).copyMemory(from: source, byteCount: count)
        }
        return Int32(count)
    }

    fileprivate static func write(bio: OpaquePointer?, from buffer: UnsafePointer<CChar>?, size: Int32) -> Int32 {
        guard let bio, let buffer, size >= 0, let link = from(bio: bio) else { return -1 }
        parley_bio_clear_retry_flags(bio)
        link.outbound.append(Array(UnsafeRawBufferPointer(start: buffer, count: Int(size))))
        return size
    }

    fileprivate static func control(bio: OpaquePointer?, command: Int32, argument: Int, pointer: UnsafeMutableRawPointer?) -> Int {
        switch command {
        case BIO_CTRL_FLUSH:
            return 1
        case BIO_CTRL_DGRAM_QUERY_MTU, BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
            return maximumDatagramSize
        case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
            // The size above is already the UDP payload; no headers are added below us.
            return 0
        case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
            guard let link = from(bio: bio), let pointer else { return 0 }
            link.timerChanged(pointer.assumingMemoryBound(to: timeval.self))
            return 1
        default:
            // Pending counts, peer addresses, socket options: nothing to report or do.
            return 0
        }
    }

    private func timerChanged(_ timer: UnsafeMutablePointer<timeval>) {
        let running = timer.pointee.tv_sec != 0 || timer.pointee.tv_usec != 0
        deadline = running ? now + .microseconds(Int64(timeoutMicroseconds)) : nil
        openSSLTimer = running && Self.holdsOpenSSLTimer ? timer : nil
        holdOpenSSLTimer()
    }

    /// Makes the held timer look expired to OpenSSL, for the `DTLSv1_handle_timeout` that
    /// follows. Does nothing when no timer is held (OpenSSL other than 3.0).
    func expireOpenSSLTimer() {
        openSSLTimer?.pointee = Self.expiredTimerValue
    }

    /// Puts the held timer back out of the real clock's reach.
    func holdOpenSSLTimer() {
        openSSLTimer?.pointee = Self.heldTimerValue
    }

    /// `DTLS_set_timer_cb`: 0 means a new timer, otherwise the timeout that just expired.
    fileprivate static func nextTimeout(ssl: OpaquePointer?, previousMicroseconds: UInt32) -> UInt32 {
        let timeout = previousMicroseconds == 0
            ? initialTimeoutMicroseconds
            : min(previousMicroseconds.multipliedReportingOverflow(by: 2).partialValue, maximumTimeoutMicroseconds)
        from(ssl: ssl)?.timeoutMicroseconds = timeout
        return timeout
    }

    /// Installs the timer callback on one connection.
    static func installTimer(on ssl: OpaquePointer) {
        DTLS_set_timer_cb(ssl) { ssl, previous in
            DTLSDatagramBIO.nextTimeout(ssl: ssl, previousMicroseconds: previous)
        }
    }

    /// The `SSL_CTX` certificate verify callback, in place of chain verification. Peers use
    /// self-signed certificates; what authenticates the peer is that its certificate matches
    /// the fingerprint signalled in SDP (RFC 5763 §5). Rejecting here makes OpenSSL send an
    /// alert and stop before any key is derived.
    static func verifyPeerCertificate(store: OpaquePointer?) -> Int32 {
        guard let store else { return 0 }
        guard let sslPointer = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()),
              let link = from(ssl: OpaquePointer(sslPointer)),
              let certificate = X509_STORE_CTX_get0_cert(store) else { return 0 }
        let actual = DTLSFingerprint.of(certificate: certificate, algorithm: link.remoteFingerprint.algorithm)
        guard actual == link.remoteFingerprint else {
            link.rejectedFingerprint = true
            X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED)
            return 0
        }
        return 1
    }
}

/// The BIO method, made once per process and never changed afterwards, so sharing the pointer
/// between threads is safe; OpenSSL only reads a `BIO_METHOD` after setup.
private nonisolated(unsafe) let datagramBIOMethod: OpaquePointer? = {
    let type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK
    guard let method = BIO_meth_new(type, "parley DTLS datagrams") else { return nil }
    let installed = BIO_meth_set_write(method) { bio, buffer, size in
        DTLSDatagramBIO.write(bio: bio, from: buffer, size: size)
    } == 1 && BIO_meth_set_read(method) { bio, buffer, size in
        DTLSDatagramBIO.read(bio: bio, into: buffer, size: size)
    } == 1 && BIO_meth_set_ctrl(method) { bio, command, argument, pointer in
        DTLSDatagramBIO.control(bio: bio, command: command, argument: argument, pointer: pointer)
    } == 1 && BIO_meth_set_create(method) { _ in 1 } == 1
        && BIO_meth_set_destroy(method) { bio in
            BIO_set_data(bio, nil)
            BIO_set_init(bio, 0)
            return 1
        } == 1
    guard installed else {
        BIO_meth_free(method)
        return nil
    }
    return method
}()
