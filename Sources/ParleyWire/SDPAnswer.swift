/// What a JSEP offerer needs from the remote answer (RFC 8829 §5.10): ICE credentials, DTLS
/// fingerprint and role, whether the answerer is ICE-lite, its candidates and the accepted
/// audio (and data channel) section. Used by Parley's own client role.
public struct SDPAnswer: Sendable {
    public let description: SessionDescription
    public let iceUfrag: String
    public let icePassword: String
    public let fingerprint: DTLSFingerprintLine
    /// `active` or `passive`: the answerer's DTLS role (RFC 8842 §5.3).
    public let setup: DTLSSetup
    /// The answer carries session-level `a=ice-lite` (RFC 8839 §5.3).
    public let isICELite: Bool
    /// Candidates of the transport section, in order (RFC 8839 §5.1).
    public let candidates: [SDPCandidate]
    /// The accepted audio section: Opus payload type, remote SSRC, direction.
    public let audio: OfferedAudio
    /// The accepted data channel section, nil when rejected or absent.
    public let application: OfferedApplication?
    /// The `a=group:BUNDLE` mids of the group holding the audio section, nil when unbundled.
    public let bundleGroup: [String]?
    /// `a=ice-options` tokens of the transport section or session (RFC 8839 §5.6).
    public let iceOptions: [String]

    /// Parses and checks an answer. Throws `noAudio` when the audio section was rejected,
    /// `noCommonCodec` when it does not carry opus/48000/2, `noFingerprint`, `noICECredentials`,
    /// `unsupportedSetup` for `actpass` or `holdconn`, or `malformed` for syntax errors (an
    /// `a=sctp-init` that is not a base64 SCTP INIT chunk among them).
    public init(parsing text: String) throws(SDPError) {
        let description = try SessionDescription(parsing: text)
        let remote = try RemoteDescription(description)
        guard remote.setup == .active || remote.setup == .passive else { throw .unsupportedSetup(remote.setup.rawValue) }
        self.description = description
        iceUfrag = remote.iceUfrag
        icePassword = remote.icePassword
        fingerprint = remote.fingerprint
        setup = remote.setup
        isICELite = remote.isICELite
        candidates = remote.candidates
        audio = remote.audio
        application = remote.application
        bundleGroup = remote.bundleGroup
        iceOptions = remote.iceOptions
    }
}
