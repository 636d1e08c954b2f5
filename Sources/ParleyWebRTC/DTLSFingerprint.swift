import COpenSSL

/// A certificate fingerprint as carried in SDP `a=fingerprint` (RFC 8122 §5).
///
/// `algorithm` is the lowercase hash function name from the RFC 8122 registry ("sha-256").
/// Parley's own certificates are fingerprinted with sha-256 (RFC 8827 §6.5); a remote
/// fingerprint may also use sha-1, sha-224, sha-384 or sha-512.
public struct DTLSFingerprint: Sendable, Hashable {
    public var algorithm: String
    public var bytes: [UInt8]

    /// Parses the hex part of `a=fingerprint:<algorithm> <hex>` ("AB:CD:..."), RFC 8122 §5.
    /// Returns nil for an unknown algorithm, malformed hex, or a length that does not match
    /// the algorithm's digest size.
    public init?(algorithm: String, hex: String) {
        let algorithm = algorithm.lowercased()
        guard let length = Self.digestLength(algorithm) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        for pair in hex.split(separator: ":", omittingEmptySubsequences: false) {
            // `UInt8(_:radix:)` alone would also take a sign ("+F").
            guard pair.utf8.count == 2, pair.allSatisfy(\.isHexDigit), let byte = UInt8(pair, radix: 16) else { return nil }
            bytes.append(byte)
        }
        guard bytes.count == length else { return nil }
        self.algorithm = algorithm
        self.bytes = bytes
    }

    init(algorithm: String, bytes: [UInt8]) {
        self.algorithm = algorithm
        self.bytes = bytes
    }

    /// Uppercase hex bytes separated by colons, as written in SDP (RFC 8122 §5).
    public var hexValue: String {
        bytes.map { byte in
            let digits = String(byte, radix: 16, uppercase: true)
            return byte < 16 ? "0" + digits : digits
        }.joined(separator: ":")
    }

    /// The fingerprint of a certificate (`X509*`, hashed over its DER form) under `algorithm`, or nil when
    /// the algorithm is not one we hash with or OpenSSL fails.
    static func of(certificate: OpaquePointer, algorithm: String) -> DTLSFingerprint? {
        guard let digest = digestFunction(algorithm) else { return nil }
        var buffer = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(certificate, digest, &buffer, &length) == 1 else { return nil }
        return DTLSFingerprint(algorithm: algorithm, bytes: Array(buffer.prefix(Int(length))))
    }

    private static func digestLength(_ algorithm: String) -> Int? {
        switch algorithm {
        case "sha-1": 20
        case "sha-224": 28
        case "sha-256": 32
        case "sha-384": 48
        case "sha-512": 64
        default: nil
        }
    }

    private static func digestFunction(_ algorithm: String) -> OpaquePointer? {
        switch algorithm {
        case "sha-1": EVP_sha1()
        case "sha-224": EVP_sha224()
        case "sha-256": EVP_sha256()
        case "sha-384": EVP_sha384()
        case "sha-512": EVP_sha512()
        default: nil
        }
    }
}
