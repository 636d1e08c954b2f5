/// The server's side of an answer: its ICE-lite credentials, certificate fingerprint,
/// advertised addresses and RTP identity.
public struct SDPAnswerParameters: Sendable {
    public var iceUfrag: String
    public var icePassword: String
    public var fingerprint: DTLSFingerprintLine
    /// The preferred DTLS role when the offer says `actpass`. The answer always holds
    /// `offer.setup.answerRole(preferring: setup)`, which is the role the session must take.
    public var setup: DTLSSetup
    /// One host candidate is advertised per address, in order of preference.
    public var candidates: [PeerAddress]
    /// One `tcptype passive` host candidate per address (RFC 6544 §4.5), in order of
    /// preference, each below every UDP candidate.
    public var tcpCandidates: [PeerAddress]
    public var sessionID: UInt64
    public var audioSSRC: UInt32
    public var cname: String
    /// Whether to accept the offer's data channel section; when false it is rejected with port 0.
    public var acceptApplication: Bool
    /// `a=ice-options` tokens (RFC 8839 §5.6) written with the transport attributes, e.g. the
    /// SPED options the offer carried (`SPEDICEOption`); none when empty.
    public var iceOptions: [String]
    /// Our SCTP INIT chunk for the accepted data channel section's `a=sctp-init` (SNAP,
    /// draft-hancke-tsvwg-snap-00). Written only when the offer carried one: an answer
    /// must not have it otherwise.
    public var sctpInitiation: SCTPInitChunk?

    public init(iceUfrag: String, icePassword: String, fingerprint: DTLSFingerprintLine, setup: DTLSSetup = .active,
                candidates: [PeerAddress], tcpCandidates: [PeerAddress] = [], sessionID: UInt64, audioSSRC: UInt32,
                cname: String, acceptApplication: Bool = false, iceOptions: [String] = [], sctpInitiation: SCTPInitChunk? = nil) {
        self.iceOptions = iceOptions
        self.iceUfrag = iceUfrag
        self.icePassword = icePassword
        self.fingerprint = fingerprint
        self.setup = setup
        self.candidates = candidates
        self.tcpCandidates = tcpCandidates
        self.sessionID = sessionID
        self.audioSSRC = audioSSRC
        self.cname = cname
        self.acceptApplication = acceptApplication
        self.sctpInitiation = sctpInitiation
    }
}

/// Builds the server's JSEP answer (RFC 8829 §5.3.1) as an ICE-lite endpoint (RFC 8445 §2.5).
///
/// One answer m= line per offered m= line, same order and kind. The chosen audio section
/// keeps only the offer's Opus payload type; the data channel section is accepted when asked
/// and bundled with audio, with our `a=sctp-init` when the offer had one (SNAP); every other section is rejected with port 0 and only `a=mid`
/// (RFC 8829 §5.3.1, RFC 8843 §7.3.3). `a=group:BUNDLE` lists the accepted mids. ICE
/// credentials, fingerprint and setup appear at session level and in each accepted section.
public enum SDPAnswerBuilder {
    /// Candidate type preference for host candidates (RFC 8445 §5.1.2.2 recommends 126).
    public static let hostTypePreference: UInt8 = 126
    /// RFC 6544 §4.2's direction preference for a passive host candidate.
    public static let passiveDirectionPreference: UInt16 = 4
    /// `a=sctp-port` and `a=max-message-size` written for an accepted data channel (RFC 8841).
    public static let sctpPort: UInt16 = 5000
    public static let maxMessageSize = 262_144

    /// The answer as SDP text with CRLF line endings.
    public static func answer(to offer: SDPOffer, with parameters: SDPAnswerParameters) -> String {
        answerDescription(to: offer, with: parameters).serialized()
    }

    /// The answer as a `SessionDescription`.
    public static func answerDescription(to offer: SDPOffer, with parameters: SDPAnswerParameters) -> SessionDescription {
        let applicationIndex = acceptedApplicationIndex(offer, parameters)
        var media: [SDPMediaDescription] = []
        var acceptedMids: [String] = []
        for (index, section) in offer.description.media.enumerated() {
            if index == offer.audio.mLineIndex {
                media.append(audioSection(offer, parameters))
            } else if index == applicationIndex {
                media.append(applicationSection(section, offer, parameters))
            } else {
                media.append(rejected(section))
                continue
            }
            if let mid = section.mid { acceptedMids.append(mid) }
        }
        // Session-level copies of the transport attributes (RFC 8839 §5.4, RFC 8122 §5, RFC 4145 §4)
        // cover rejected sections for peers such as aiortc that look for them in every section.
        var sessionAttributes = [SDPAttribute("ice-lite")] + transportAttributes(offer, parameters)
        if let group = offer.bundleGroup {
            let bundled = group.filter(acceptedMids.contains)
            if !bundled.isEmpty { sessionAttributes.append(SDPAttribute("group", (["BUNDLE"] + bundled).joined(separator: " "))) }
        }
        sessionAttributes.append(SDPAttribute("msid-semantic", " WMS parley"))
        return SessionDescription(origin: SDPOrigin(sessionID: String(parameters.sessionID)),
                                  sessionAttributes: sessionAttributes, media: media)
    }

    /// The data channel is accepted only when asked for and bundled with the audio section,
    /// because Parley runs one ICE/DTLS transport per session.
    private static func acceptedApplicationIndex(_ offer: SDPOffer, _ parameters: SDPAnswerParameters) -> Int? {
        guard parameters.acceptApplication, let application = offer.application,
              let mid = application.mid, offer.bundleGroup?.contains(mid) == true else { return nil }
        return application.mLineIndex
    }

    private static func transportAttributes(_ offer: SDPOffer, _ parameters: SDPAnswerParameters) -> [SDPAttribute] {
        let setup = offer.setup.answerRole(preferring: parameters.setup) ?? .active
        return [
            SDPAttribute("ice-ufrag", parameters.iceUfrag),
            SDPAttribute("ice-pwd", parameters.icePassword),
        ] + SDPAttribute.iceOptions(parameters.iceOptions) + [
            SDPAttribute("fingerprint", parameters.fingerprint.description),
            SDPAttribute("setup", setup.rawValue),
        ]
    }

    private static func audioSection(_ offer: SDPOffer, _ parameters: SDPAnswerParameters) -> SDPMediaDescription {
        let audio = offer.audio
        let offered = offer.description.media[audio.mLineIndex]
        let pt = String(audio.opusPayloadType)
        let direction = audio.direction.answered
        var attributes = transportAttributes(offer, parameters)
        if let mid = audio.mid { attributes.append(SDPAttribute("mid", mid)) }
        attributes.append(SDPAttribute(direction.rawValue))
        if direction.sends { attributes.append(SDPAttribute("msid", "parley audio")) }
        if audio.supportsRTCPMux { attributes.append(SDPAttribute("rtcp-mux")) }
        attributes.append(SDPAttribute("rtpmap", "\(pt) opus/48000/2"))
        if audio.rtcpFeedback.contains("nack") { attributes.append(SDPAttribute("rtcp-fb", "\(pt) nack")) }
        attributes.append(SDPAttribute("fmtp", "\(pt) minptime=10;useinbandfec=1"))
        var formats = [pt]
        if let events = audio.telephoneEventPayloadType {
            // DTMF keys from the caller (RFC 4733 §7.1.1), at Opus's clock.
            formats.append(String(events))
            attributes.append(SDPAttribute("rtpmap", "\(events) telephone-event/48000"))
            attributes.append(SDPAttribute("fmtp", "\(events) 0-15"))
        }
        if direction.sends { attributes.append(SDPAttribute("ssrc", "\(parameters.audioSSRC) cname:\(parameters.cname)")) }
        attributes += candidateAttributes(parameters)
        return SDPMediaDescription(kind: "audio", port: 9, proto: offered.proto, formats: formats,
                                   connection: SDPConnection(), attributes: attributes)
    }

    private static func applicationSection(_ offered: SDPMediaDescription, _ offer: SDPOffer,
                                           _ parameters: SDPAnswerParameters) -> SDPMediaDescription {
        var attributes = transportAttributes(offer, parameters)
        if let mid = offered.mid { attributes.append(SDPAttribute("mid", mid)) }
        attributes.append(SDPAttribute("sctp-port", String(sctpPort)))
        attributes.append(SDPAttribute("max-message-size", String(maxMessageSize)))
        if offer.application?.sctpInitiation != nil, let initiation = parameters.sctpInitiation {
            attributes.append(.sctpInit(initiation))
        }
        attributes += candidateAttributes(parameters)
        return SDPMediaDescription(kind: "application", port: 9, proto: offered.proto, formats: ["webrtc-datachannel"],
                                   connection: SDPConnection(), attributes: attributes)
    }

    /// One host candidate per address, then one `tcptype passive` host candidate per TCP
    /// address, then `a=end-of-candidates` (RFC 8840 §4.1): an ICE-lite server knows all its
    /// candidates up front. Every accepted section carries them, so the peer finds them
    /// whichever section it treats as BUNDLE-tagged.
    ///
    /// A TCP candidate's local preference is RFC 6544 §4.2's `2^13 × direction-pref +
    /// other-pref` with direction-pref 4 (passive host), at most 40,959, below every UDP
    /// candidate's (65,535 down): a client that can reach the UDP port prefers it, and TCP
    /// carries the call only where UDP fails. Its port is the relay's listening port, as a
    /// passive candidate's must be (RFC 6544 §4.5); the foundation differs from the UDP ones
    /// because the transport does (RFC 8445 §5.1.1.3).
    public static func candidateAttributes(_ parameters: SDPAnswerParameters) -> [SDPAttribute] {
        let udp = parameters.candidates.enumerated().map { index, address in
            let priority = SDPCandidate.priority(typePreference: hostTypePreference,
                                                 localPreference: UInt16(clamping: 65535 - index))
            let candidate = SDPCandidate(foundation: String(index + 1), priority: priority,
                                         address: address.ip.description, port: address.port, type: .host)
            return SDPAttribute("candidate", candidate.attributeValue)
        }
        let tcp = parameters.tcpCandidates.enumerated().map { index, address in
            let otherPreference = 8191 - min(index, 8191)
            let priority = SDPCandidate.priority(typePreference: hostTypePreference,
                                                 localPreference: passiveDirectionPreference << 13 | UInt16(otherPreference))
            let candidate = SDPCandidate(foundation: String(parameters.candidates.count + index + 1), transport: "tcp",
                                         priority: priority, address: address.ip.description, port: address.port,
                                         type: .host, extensions: [.init(name: "tcptype", value: "passive")])
            return SDPAttribute("candidate", candidate.attributeValue)
        }
        return udp + tcp + [SDPAttribute("end-of-candidates")]
    }

    /// A rejected section (RFC 8829 §5.3.1): port 0, the offered proto and formats, `a=mid` only.
    private static func rejected(_ offered: SDPMediaDescription) -> SDPMediaDescription {
        SDPMediaDescription(kind: offered.kind, port: 0, proto: offered.proto, formats: offered.formats,
                            connection: SDPConnection(), attributes: offered.mid.map { [SDPAttribute("mid", $0)] } ?? [])
    }
}
