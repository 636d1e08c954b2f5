/// Parley's own offer as a JSEP offerer (client role, RFC 8829 §5.2.1), used by in-memory
/// tests and the load generator.
public struct SDPOfferParameters: Sendable {
    public var iceUfrag: String
    public var icePassword: String
    public var fingerprint: DTLSFingerprintLine
    public var sessionID: UInt64
    public var audioSSRC: UInt32
    public var cname: String
    public var opusPayloadType: UInt8
    /// Adds a bundled `m=application` data channel section with mid `1` (RFC 8841).
    public var offerApplication: Bool
    /// `a=ice-options` tokens (RFC 8839 §5.6), e.g. `SPEDICEOption.draft`; none when empty.
    public var iceOptions: [String]
    /// Our SCTP INIT chunk for the data channel section's `a=sctp-init` (SNAP,
    /// draft-hancke-tsvwg-snap-00); nil offers the SCTP handshake only.
    public var sctpInitiation: SCTPInitChunk?

    public init(iceUfrag: String, icePassword: String, fingerprint: DTLSFingerprintLine, sessionID: UInt64,
                audioSSRC: UInt32, cname: String, opusPayloadType: UInt8 = 111, offerApplication: Bool = false,
                sctpInitiation: SCTPInitChunk? = nil, iceOptions: [String] = []) {
        self.iceOptions = iceOptions
        self.iceUfrag = iceUfrag
        self.icePassword = icePassword
        self.fingerprint = fingerprint
        self.sessionID = sessionID
        self.audioSSRC = audioSSRC
        self.cname = cname
        self.opusPayloadType = opusPayloadType
        self.offerApplication = offerApplication
        self.sctpInitiation = sctpInitiation
    }
}

/// Builds Parley's client offer: one sendrecv Opus audio section with mid `0`, `a=setup:actpass`,
/// `a=rtcp-mux`, BUNDLE, the data channel section when asked (with `a=sctp-init` when given),
/// and no candidates (the ICE-lite server learns the client's address from its connectivity
/// checks, RFC 8445 §7.3.1.3).
public enum SDPOfferBuilder {
    /// The offer as SDP text with CRLF line endings.
    public static func offer(with parameters: SDPOfferParameters) -> String {
        offerDescription(with: parameters).serialized()
    }

    /// The offer as a `SessionDescription`.
    public static func offerDescription(with parameters: SDPOfferParameters) -> SessionDescription {
        let transport = [
            SDPAttribute("ice-ufrag", parameters.iceUfrag),
            SDPAttribute("ice-pwd", parameters.icePassword),
        ] + SDPAttribute.iceOptions(parameters.iceOptions) + [
            SDPAttribute("fingerprint", parameters.fingerprint.description),
            SDPAttribute("setup", DTLSSetup.actpass.rawValue),
        ]
        let pt = String(parameters.opusPayloadType)
        let audio = SDPMediaDescription(kind: "audio", port: 9, proto: "UDP/TLS/RTP/SAVPF", formats: [pt],
                                        connection: SDPConnection(), attributes: transport + [
            SDPAttribute("mid", "0"),
            SDPAttribute(MediaDirection.sendrecv.rawValue),
            SDPAttribute("msid", "parley audio"),
            SDPAttribute("rtcp-mux"),
            SDPAttribute("rtpmap", "\(pt) opus/48000/2"),
            SDPAttribute("fmtp", "\(pt) minptime=10;useinbandfec=1"),
            SDPAttribute("ssrc", "\(parameters.audioSSRC) cname:\(parameters.cname)"),
        ])
        var media = [audio]
        if parameters.offerApplication {
            var attributes = transport + [
                SDPAttribute("mid", "1"),
                SDPAttribute("sctp-port", String(SDPAnswerBuilder.sctpPort)),
                SDPAttribute("max-message-size", String(SDPAnswerBuilder.maxMessageSize)),
            ]
            if let initiation = parameters.sctpInitiation {
                attributes.append(.sctpInit(initiation))
            }
            media.append(SDPMediaDescription(kind: "application", port: 9, proto: "UDP/DTLS/SCTP", formats: ["webrtc-datachannel"],
                                             connection: SDPConnection(), attributes: attributes))
        }
        let group = parameters.offerApplication ? "BUNDLE 0 1" : "BUNDLE 0"
        return SessionDescription(origin: SDPOrigin(sessionID: String(parameters.sessionID)),
                                  sessionAttributes: [SDPAttribute("group", group), SDPAttribute("msid-semantic", " WMS parley")],
                                  media: media)
    }
}
