/// What a JSEP answerer needs from a remote offer (RFC 8829 §5.3): the audio section that
/// offers Opus, ICE credentials, the DTLS fingerprint and setup role, BUNDLE, candidates, and
/// the full description, so every offered m= line gets an answer line in order.
///
/// Transport attributes (ICE, DTLS) are read from the BUNDLE-tagged section of the group that
/// holds the audio section (RFC 8843 §7.2), or from the audio section when it is not bundled,
/// falling back to session level.
public struct SDPOffer: Sendable {
    public let description: SessionDescription
    public let iceUfrag: String
    public let icePassword: String
    /// The preferred supported fingerprint (sha-256 before sha-384 before sha-512).
    public let fingerprint: DTLSFingerprintLine
    /// The offerer's role; an answerer takes `setup.answerRole(preferring:)`.
    public let setup: DTLSSetup
    /// The first audio section that offers Opus (opus/48000/2, or opus/48000).
    public let audio: OfferedAudio
    /// The first data channel section (`webrtc-datachannel`) that is not rejected, if any.
    public let application: OfferedApplication?
    /// The `a=group:BUNDLE` mids of the group holding the audio section, nil when unbundled.
    public let bundleGroup: [String]?
    /// Candidates of the transport section, in order (RFC 8839 §5.1).
    public let candidates: [SDPCandidate]
    /// `a=ice-options` tokens of the transport section or session (RFC 8839 §5.6).
    public let iceOptions: [String]

    /// Parses and checks an offer. Throws `noAudio`, `noCommonCodec`, `noFingerprint`,
    /// `unsupportedFingerprintAlgorithm`, `noICECredentials`, `unsupportedSetup` (holdconn),
    /// or `malformed` for syntax errors, including ICE credentials that are not RFC 8839 ice-chars
    /// and an `a=sctp-init` that is not a base64 SCTP INIT chunk.
    public init(parsing text: String) throws(SDPError) {
        let description = try SessionDescription(parsing: text)
        let remote = try RemoteDescription(description)
        guard remote.setup != .holdconn else { throw .unsupportedSetup(remote.setup.rawValue) }
        self.description = description
        iceUfrag = remote.iceUfrag
        icePassword = remote.icePassword
        fingerprint = remote.fingerprint
        setup = remote.setup
        audio = remote.audio
        application = remote.application
        bundleGroup = remote.bundleGroup
        candidates = remote.candidates
        iceOptions = remote.iceOptions
    }
}

/// The audio section of a remote offer or answer, as negotiated for Opus (RFC 7587 §7).
public struct OfferedAudio: Sendable, Equatable {
    /// The `a=mid` of the section (RFC 5888 §4); nil in non-JSEP SDP.
    public let mid: String?
    /// Index of the section among all m= lines, from 0.
    public let mLineIndex: Int
    public let opusPayloadType: UInt8
    /// The `a=fmtp` parameters for the Opus payload type, e.g. `minptime=10;useinbandfec=1`.
    public let opusFmtp: String?
    /// The remote side's direction (RFC 8866 §6.7); `sendrecv` when absent.
    public let direction: MediaDirection
    /// The first `a=ssrc` of the section (RFC 5576 §4.1).
    public let ssrc: UInt32?
    /// The `cname` source attribute of `ssrc` (RFC 5576 §6.1).
    public let cname: String?
    /// RTP header extensions offered (RFC 8285 §8), IDs 1 to 255 only.
    public let extmaps: [SDPExtmap]
    /// `a=rtcp-fb` values for the Opus payload type or `*`, e.g. `transport-cc`, `nack` (RFC 4585 §4.2).
    public let rtcpFeedback: [String]
    /// Whether the section has `a=rtcp-mux` (RFC 5761 §5.1.1).
    public let supportsRTCPMux: Bool
    /// The payload type of `telephone-event/48000` (RFC 4733 §7.1.1; DTMF at Opus's clock),
    /// when offered.
    public let telephoneEventPayloadType: UInt8?

    public init(mid: String?, mLineIndex: Int, opusPayloadType: UInt8, opusFmtp: String? = nil,
                direction: MediaDirection = .sendrecv, ssrc: UInt32? = nil, cname: String? = nil,
                extmaps: [SDPExtmap] = [], rtcpFeedback: [String] = [], supportsRTCPMux: Bool = true,
                telephoneEventPayloadType: UInt8? = nil) {
        self.telephoneEventPayloadType = telephoneEventPayloadType
        self.mid = mid
        self.mLineIndex = mLineIndex
        self.opusPayloadType = opusPayloadType
        self.opusFmtp = opusFmtp
        self.direction = direction
        self.ssrc = ssrc
        self.cname = cname
        self.extmaps = extmaps
        self.rtcpFeedback = rtcpFeedback
        self.supportsRTCPMux = supportsRTCPMux
    }
}

/// An `a=extmap` line: `id[/direction] uri [attributes]` (RFC 8285 §8).
public struct SDPExtmap: Sendable, Equatable {
    public let id: UInt8
    public let direction: MediaDirection?
    public let uri: String
    public let attributes: String?

    public init(id: UInt8, direction: MediaDirection? = nil, uri: String, attributes: String? = nil) {
        self.id = id
        self.direction = direction
        self.uri = uri
        self.attributes = attributes
    }
}

/// A data channel section: `m=application ... UDP/DTLS/SCTP webrtc-datachannel` (RFC 8841 §4).
public struct OfferedApplication: Sendable, Equatable {
    public let mid: String?
    public let mLineIndex: Int
    /// `a=sctp-port` (RFC 8841 §5); 5000 when absent.
    public let sctpPort: UInt16
    /// `a=max-message-size` (RFC 8841 §6); 0 means no limit, absent means 65536.
    public let maxMessageSize: UInt64
    /// `a=sctp-init` (SNAP, draft-hancke-tsvwg-snap-00): the sender's SCTP INIT chunk, with
    /// which both sides skip the SCTP handshake; nil when absent.
    public let sctpInitiation: SCTPInitChunk?

    public init(mid: String?, mLineIndex: Int, sctpPort: UInt16 = 5000, maxMessageSize: UInt64 = 65536,
                sctpInitiation: SCTPInitChunk? = nil) {
        self.mid = mid
        self.mLineIndex = mLineIndex
        self.sctpPort = sctpPort
        self.maxMessageSize = maxMessageSize
        self.sctpInitiation = sctpInitiation
    }
}
