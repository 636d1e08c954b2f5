/// An `a=fingerprint` value (RFC 8122 §5): the hash function and the certificate digest as
/// colon-separated uppercase hex, e.g. `sha-256 AB:CD:...`.
public struct DTLSFingerprintLine: Sendable, Equatable, CustomStringConvertible {
    /// Digest lengths in bytes of the hash functions in the RFC 8122 §5 registry.
    private static let digestLengths: [String: Int] = [
        "md2": 16, "md5": 16, "sha-1": 20, "sha-224": 28, "sha-256": 32, "sha-384": 48, "sha-512": 64,
    ]

    /// Hash functions Parley verifies certificates with, in order of preference.
    public static let supportedAlgorithms = ["sha-256", "sha-384", "sha-512"]

    /// The hash function name, lowercased (`sha-256`).
    public let algorithm: String
    /// The digest as uppercase hex byte pairs joined by `:`.
    public let value: String

    /// Builds a fingerprint from a digest this endpoint computed over its own certificate.
    public init(algorithm: String, digest: some Sequence<UInt8>) {
        let hexDigits = Array("0123456789ABCDEF")
        self.algorithm = algorithm.lowercased()
        self.value = digest.map { String([hexDigits[Int($0 >> 4)], hexDigits[Int($0 & 0x0F)]]) }.joined(separator: ":")
    }

    /// Parses an `a=fingerprint` attribute value: `hash-func SP fingerprint` (RFC 8122 §5).
    public init(parsing attributeValue: String) throws(SDPError) {
        try self.init(parsing: attributeValue, line: 0)
    }

    init(parsing attributeValue: String, line: Int) throws(SDPError) {
        let fields = SDPSyntax.fields(attributeValue)
        guard fields.count == 2, SDPSyntax.isToken(fields[0]) else {
            throw .malformed(line: line, reason: "a=fingerprint needs 'hash-function HEX:HEX:...' (RFC 8122 §5)")
        }
        let algorithm = fields[0].lowercased()
        let pairs = fields[1].split(separator: ":", omittingEmptySubsequences: false)
        guard pairs.allSatisfy({ $0.utf8.count == 2 && UInt8($0, radix: 16) != nil }) else {
            throw .malformed(line: line, reason: "a=fingerprint digest \(SDPSyntax.excerpt(fields[1])) is not colon-separated hex byte pairs")
        }
        if let expected = Self.digestLengths[algorithm], pairs.count != expected {
            throw .malformed(line: line, reason: "a=fingerprint \(algorithm) digest has \(pairs.count) bytes; \(expected) expected")
        }
        self.algorithm = algorithm
        self.value = fields[1].uppercased()
    }

    /// The digest bytes.
    public var digest: [UInt8] {
        value.split(separator: ":").compactMap { UInt8($0, radix: 16) }
    }

    /// The attribute value, `sha-256 AB:CD:...`.
    public var description: String {
        "\(algorithm) \(value)"
    }
}

/// The `a=setup` role (RFC 4145 §4, RFC 8842 §3): which side starts the DTLS handshake.
public enum DTLSSetup: String, Sendable, CaseIterable {
    /// This endpoint connects: it is the DTLS client.
    case active
    /// This endpoint accepts: it is the DTLS server.
    case passive
    /// Offer only: the answerer picks.
    case actpass
    /// No connection yet; not used by WebRTC.
    case holdconn

    /// The role an answerer takes for this offered role (RFC 8842 §5.2/§5.3): the opposite of
    /// `active` or `passive`, `preferred` for `actpass` (RFC 8829 §5.3.1 recommends `active`),
    /// nil for `holdconn`.
    public func answerRole(preferring preferred: DTLSSetup = .active) -> DTLSSetup? {
        switch self {
        case .active: return .passive
        case .passive: return .active
        case .actpass: return preferred == .passive ? .passive : .active
        case .holdconn: return nil
        }
    }

    /// Whether the endpoint with this role is the DTLS client (sends the ClientHello).
    public var isDTLSClient: Bool {
        self == .active
    }
}
