/// An SRTP protection profile negotiated by DTLS-SRTP (RFC 5764 §4.1.2).
public enum SRTPProfile: Sendable, Equatable {
    /// SRTP_AEAD_AES_128_GCM (RFC 7714 §14.2): 16-byte key, 12-byte salt, 16-byte tag.
    case aeadAES128GCM
    /// SRTP_AES128_CM_HMAC_SHA1_80 (RFC 5764 §4.1.2): 16-byte key, 14-byte salt, 10-byte tag.
    case aes128CMHMACSHA1_80

    /// Master key length in bytes.
    public var keyLength: Int { 16 }

    /// Master salt length in bytes.
    public var saltLength: Int {
        switch self {
        case .aeadAES128GCM: 12
        case .aes128CMHMACSHA1_80: 14
        }
    }

    /// The profile's name in OpenSSL's use_srtp configuration.
    var openSSLName: String {
        switch self {
        case .aeadAES128GCM: "SRTP_AEAD_AES_128_GCM"
        case .aes128CMHMACSHA1_80: "SRTP_AES128_CM_SHA1_80"
        }
    }

    /// The profile's identifier in the use_srtp extension (RFC 5764 §4.1.2, RFC 7714 §14.2).
    init?(protectionProfileID: UInt) {
        switch protectionProfileID {
        case 0x0007: self = .aeadAES128GCM
        case 0x0001: self = .aes128CMHMACSHA1_80
        default: return nil
        }
    }
}

/// SRTP master keys exported from DTLS with the "EXTRACTOR-dtls_srtp" label (RFC 5764 §4.2),
/// split by our role: `local*` protect what we send, `remote*` unprotect what we receive.
public struct SRTPKeyingMaterial: Sendable, Equatable {
    public var profile: SRTPProfile
    public var localKey: [UInt8]
    public var localSalt: [UInt8]
    public var remoteKey: [UInt8]
    public var remoteSalt: [UInt8]

    public init(profile: SRTPProfile, localKey: [UInt8], localSalt: [UInt8], remoteKey: [UInt8], remoteSalt: [UInt8]) {
        self.profile = profile
        self.localKey = localKey
        self.localSalt = localSalt
        self.remoteKey = remoteKey
        self.remoteSalt = remoteSalt
    }

    /// Splits the exporter output `client_key | server_key | client_salt | server_salt`
    /// (RFC 5764 §4.2): a DTLS client sends with the client half, a server with the server half.
    /// Returns nil if `exported` is not exactly `2 * (key + salt)` bytes.
    init?(exported: [UInt8], profile: SRTPProfile, role: DTLSRole) {
        let key = profile.keyLength
        let salt = profile.saltLength
        guard exported.count == 2 * (key + salt) else { return nil }
        let clientKey = Array(exported[0..<key])
        let serverKey = Array(exported[key..<2 * key])
        let clientSalt = Array(exported[2 * key..<2 * key + salt])
        let serverSalt = Array(exported[2 * key + salt..<2 * (key + salt)])
        switch role {
        case .client:
            self.init(profile: profile, localKey: clientKey, localSalt: clientSalt, remoteKey: serverKey, remoteSalt: serverSalt)
        case .server:
            self.init(profile: profile, localKey: serverKey, localSalt: serverSalt, remoteKey: clientKey, remoteSalt: clientSalt)
        }
    }
}
