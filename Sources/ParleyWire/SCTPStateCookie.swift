import Crypto

/// The State Cookie Parley puts in its INIT-ACK (RFC 9260 §5.1.3): everything needed to
/// build the association when the COOKIE-ECHO returns it, so nothing is kept for an INIT,
/// sealed with HMAC-SHA256 under a key only this endpoint knows.
public struct SCTPStateCookie: Sendable, Equatable {
    public var localTag: UInt32
    public var peerTag: UInt32
    public var peerInitialTSN: UInt32
    public var peerReceiverWindow: UInt32
    public var peerOutboundStreams: UInt16
    public var peerInboundStreams: UInt16
    public var peerSupportsForwardTSN: Bool
    public var peerSupportsReconfig: Bool
    /// When the cookie was made, in nanoseconds of the endpoint's `Instant` clock.
    public var createdAt: Int64

    static let bodyLength = 29
    static let macLength = 32
    public static let sealedLength = bodyLength + macLength

    /// Why a returned cookie is not accepted (RFC 9260 §5.1.5).
    public enum OpenError: Error, Sendable, Equatable {
        case wrongLength(Int)
        case badMAC
    }

    public init(localTag: UInt32, peerTag: UInt32, peerInitialTSN: UInt32, peerReceiverWindow: UInt32,
                peerOutboundStreams: UInt16, peerInboundStreams: UInt16, peerSupportsForwardTSN: Bool,
                peerSupportsReconfig: Bool, createdAt: Int64) {
        self.localTag = localTag
        self.peerTag = peerTag
        self.peerInitialTSN = peerInitialTSN
        self.peerReceiverWindow = peerReceiverWindow
        self.peerOutboundStreams = peerOutboundStreams
        self.peerInboundStreams = peerInboundStreams
        self.peerSupportsForwardTSN = peerSupportsForwardTSN
        self.peerSupportsReconfig = peerSupportsReconfig
        self.createdAt = createdAt
    }

    /// A secret for sealing cookies: 256 random bits, never sent.
    public struct Key: Sendable {
        private let bytes: [UInt8]

        public init() {
            var generator = SystemRandomNumberGenerator()
            bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }

        var key: SymmetricKey { SymmetricKey(data: bytes) }
    }

    /// The cookie's body followed by its HMAC-SHA256 under `key`.
    public func sealed(key: Key) -> [UInt8] {
        var body: [UInt8] = []
        body.appendBigEndian(localTag)
        body.appendBigEndian(peerTag)
        body.appendBigEndian(peerInitialTSN)
        body.appendBigEndian(peerReceiverWindow)
        body.appendBigEndian(peerOutboundStreams)
        body.appendBigEndian(peerInboundStreams)
        body.append((peerSupportsForwardTSN ? 1 : 0) | (peerSupportsReconfig ? 2 : 0))
        body.appendBigEndian(UInt64(bitPattern: createdAt))
        return body + Array(HMAC<SHA256>.authenticationCode(for: body, using: key.key))
    }

    /// Verifies the MAC of a returned cookie, in constant time, and decodes it.
    public init(opening bytes: [UInt8], key: Key) throws(OpenError) {
        guard bytes.count == Self.sealedLength else { throw .wrongLength(bytes.count) }
        let body = Array(bytes[0..<Self.bodyLength])
        let mac = Array(bytes[Self.bodyLength...])
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: key.key) else { throw .badMAC }
        var reader = BigEndianReader(body)
        localTag = reader.read(UInt32.self) ?? 0
        peerTag = reader.read(UInt32.self) ?? 0
        peerInitialTSN = reader.read(UInt32.self) ?? 0
        peerReceiverWindow = reader.read(UInt32.self) ?? 0
        peerOutboundStreams = reader.read(UInt16.self) ?? 0
        peerInboundStreams = reader.read(UInt16.self) ?? 0
        let features = reader.read(UInt8.self) ?? 0
        peerSupportsForwardTSN = features & 1 != 0
        peerSupportsReconfig = features & 2 != 0
        createdAt = Int64(bitPattern: reader.read(UInt64.self) ?? 0)
    }
}
