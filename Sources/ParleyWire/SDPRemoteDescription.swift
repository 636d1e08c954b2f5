/// The checks and extractions `SDPOffer` and `SDPAnswer` share: audio with Opus, the data
/// channel section, and the ICE and DTLS attributes of the transport (RFC 8829 §5.7, §5.8).
struct RemoteDescription {
    let iceUfrag: String
    let icePassword: String
    let fingerprint: DTLSFingerprintLine
    let setup: DTLSSetup
    let audio: OfferedAudio
    let application: OfferedApplication?
    let bundleGroup: [String]?
    let candidates: [SDPCandidate]
    let isICELite: Bool
    /// `a=ice-options` tokens of the transport (RFC 8839 §5.6), e.g. `trickle`, `sped`.
    let iceOptions: [String]

    init(_ description: SessionDescription) throws(SDPError) {
        try Self.checkMids(description)
        try Self.checkICECredentialSyntax(description)
        let (audioSection, audioIndex, payloadType) = try Self.opusSection(in: description)
        let audio = try Self.audio(audioSection, index: audioIndex, payloadType: payloadType, session: description)
        let bundleGroup = audio.mid.flatMap { mid in description.bundleGroups.first { $0.contains(mid) } }
        let transport = bundleGroup.flatMap { group in description.media.first { $0.mid == group.first } } ?? audioSection

        func transportAttributes(_ name: String) -> [SDPAttribute] {
            let media = transport.attributes.filter { $0.name == name }
            return media.isEmpty ? description.sessionAttributes.filter { $0.name == name } : media
        }
        guard let ufrag = transportAttributes("ice-ufrag").first?.value,
              let password = transportAttributes("ice-pwd").first?.value else { throw .noICECredentials }
        iceUfrag = ufrag
        icePassword = password
        iceOptions = transportAttributes("ice-options").flatMap { ($0.value ?? "").split(separator: " ").map(String.init) }
        fingerprint = try Self.fingerprint(transportAttributes("fingerprint"))
        if let attribute = transportAttributes("setup").first {
            guard let setup = attribute.value.flatMap(DTLSSetup.init(rawValue:)) else {
                throw .malformed(line: attribute.sourceLine ?? 0, reason: "a=setup must be active, passive, actpass or holdconn (RFC 4145 §4)")
            }
            self.setup = setup
        } else {
            // RFC 4145 §4: an absent setup attribute means active.
            setup = .active
        }
        var candidates: [SDPCandidate] = []
        for attribute in transport.attributes where attribute.name == "candidate" {
            candidates.append(try SDPCandidate(parsing: attribute.value ?? "", line: attribute.sourceLine ?? 0))
        }
        self.candidates = candidates
        self.audio = audio
        self.bundleGroup = bundleGroup
        application = try Self.application(in: description)
        isICELite = description.attribute("ice-lite") != nil
    }

    /// Every `a=mid` must be a token (RFC 5888 §4) so it can appear in `a=group` lines, and
    /// unique, at most one per section (RFC 5888 §4, RFC 8829 §5.2.1).
    private static func checkMids(_ description: SessionDescription) throws(SDPError) {
        var seen: Set<String> = []
        for section in description.media {
            let mids = section.attributes.filter { $0.name == "mid" }
            for attribute in mids {
                let line = attribute.sourceLine ?? 0
                guard let value = attribute.value, SDPSyntax.isToken(value) else {
                    throw .malformed(line: line, reason: "a=mid value must be a token (RFC 5888 §4)")
                }
                guard mids.count == 1 else { throw .malformed(line: line, reason: "a media section has more than one a=mid") }
                guard seen.insert(value).inserted else {
                    throw .malformed(line: line, reason: "a=mid:\(value) is used by two media sections (RFC 5888 §4)")
                }
            }
        }
    }

    /// RFC 8839 §5.4: ufrag is 4 to 256 ice-chars, password 22 to 256.
    private static func checkICECredentialSyntax(_ description: SessionDescription) throws(SDPError) {
        let all = description.sessionAttributes + description.media.flatMap(\.attributes)
        for attribute in all where attribute.name == "ice-ufrag" || attribute.name == "ice-pwd" {
            let value = attribute.value ?? ""
            let range = attribute.name == "ice-ufrag" ? 4...256 : 22...256
            guard range.contains(value.utf8.count), SDPSyntax.isICEChars(value) else {
                throw .malformed(line: attribute.sourceLine ?? 0,
                                 reason: "a=\(attribute.name) must be \(range.lowerBound) to \(range.upperBound) ice-chars (letters, digits, '+', '/'; RFC 8839 §5.4)")
            }
        }
    }

    /// The first audio section that is not rejected and offers Opus over DTLS-SRTP. RFC 7587 §7
    /// writes `opus/48000/2`; `opus/48000` (no channel count, as GStreamer's webrtcbin writes
    /// before its payloader settles) is taken too, as other WebRTC stacks take it: the answer
    /// always says `opus/48000/2`.
    private static func opusSection(in description: SessionDescription) throws(SDPError) -> (SDPMediaDescription, Int, UInt8) {
        let audio = description.media.enumerated().filter { $0.element.kind == "audio" }
        let live = audio.filter { $0.element.port != 0 || $0.element.attribute("bundle-only") != nil }
        guard !live.isEmpty else { throw .noAudio }
        for (index, section) in live where section.proto.hasSuffix("RTP/SAVPF") && !section.proto.hasPrefix("TCP/") {
            // One pass over the rtpmaps keeps hostile sections with thousands of formats linear.
            let opusPayloadTypes = Set(section.attributes(named: "rtpmap").compactMap { value -> Substring? in
                let fields = SDPSyntax.fields(value)
                guard fields.count == 2 else { return nil }
                let codec = fields[1].lowercased()
                return codec == "opus/48000/2" || codec == "opus/48000" ? fields[0] : nil
            })
            for format in section.formats where opusPayloadTypes.contains(Substring(format)) {
                guard SDPSyntax.isDigits(format), format.utf8.count <= 3, let payloadType = UInt8(format), payloadType < 128 else { continue }
                return (section, index, payloadType)
            }
        }
        throw .noCommonCodec
    }

    private static func audio(_ section: SDPMediaDescription, index: Int, payloadType: UInt8,
                              session: SessionDescription) throws(SDPError) -> OfferedAudio {
        let pt = String(payloadType)
        func parameters(_ name: String, for formats: Set<String>) -> [String] {
            section.attributes(named: name).compactMap { value in
                guard let space = value.firstIndex(of: " "), formats.contains(String(value[..<space])) else { return nil }
                return String(value[value.index(after: space)...])
            }
        }
        var ssrc: UInt32?
        var cname: String?
        for attribute in section.attributes where attribute.name == "ssrc" {
            let fields = SDPSyntax.fields(attribute.value ?? "")
            guard let first = fields.first, SDPSyntax.isDigits(first), let id = UInt32(first) else {
                throw .malformed(line: attribute.sourceLine ?? 0, reason: "a=ssrc must start with a 32-bit SSRC (RFC 5576 §4.1)")
            }
            if ssrc == nil { ssrc = id }
            if id == ssrc, cname == nil, fields.count >= 2, fields[1].hasPrefix("cname:") {
                cname = String(fields[1].dropFirst("cname:".count))
            }
        }
        var extmaps: [SDPExtmap] = []
        for attribute in section.attributes where attribute.name == "extmap" {
            if let extmap = try Self.extmap(attribute) { extmaps.append(extmap) }
        }
        let telephoneEvents = Set(section.attributes(named: "rtpmap").compactMap { value -> Substring? in
            let fields = SDPSyntax.fields(value)
            return fields.count == 2 && fields[1].lowercased() == "telephone-event/48000" ? fields[0] : nil
        })
        let telephoneEventPayloadType = section.formats.lazy
            .filter { telephoneEvents.contains(Substring($0)) && SDPSyntax.isDigits($0) && $0.utf8.count <= 3 }
            .compactMap { UInt8($0) }.first { $0 < 128 && $0 != payloadType }
        let sessionDirection = session.sessionAttributes.lazy.compactMap { $0.value == nil ? MediaDirection(rawValue: $0.name) : nil }.first
        return OfferedAudio(mid: section.mid, mLineIndex: index, opusPayloadType: payloadType,
                            opusFmtp: parameters("fmtp", for: [pt]).first,
                            direction: section.direction ?? sessionDirection ?? .sendrecv,
                            ssrc: ssrc, cname: cname, extmaps: extmaps,
                            rtcpFeedback: parameters("rtcp-fb", for: [pt, "*"]),
                            supportsRTCPMux: section.attribute("rtcp-mux") != nil,
                            telephoneEventPayloadType: telephoneEventPayloadType)
    }

    /// Parses `id[/direction] uri [attributes]`; IDs outside 1...255 are skipped (RFC 8285 §5).
    private static func extmap(_ attribute: SDPAttribute) throws(SDPError) -> SDPExtmap? {
        let value = attribute.value ?? ""
        let fields = value.split(separator: " ", maxSplits: 2)
        let idAndDirection = fields.first?.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false) ?? []
        guard fields.count >= 2, let idText = idAndDirection.first, SDPSyntax.isDigits(idText) else {
            throw .malformed(line: attribute.sourceLine ?? 0, reason: "a=extmap needs 'id[/direction] uri' (RFC 8285 §8)")
        }
        var direction: MediaDirection?
        if idAndDirection.count == 2 {
            guard let parsed = MediaDirection(rawValue: String(idAndDirection[1])) else {
                throw .malformed(line: attribute.sourceLine ?? 0, reason: "a=extmap direction must be sendrecv, sendonly, recvonly or inactive")
            }
            direction = parsed
        }
        guard idText.utf8.count <= 3, let id = UInt8(idText), id != 0 else { return nil }
        return SDPExtmap(id: id, direction: direction, uri: String(fields[1]), attributes: fields.count == 3 ? String(fields[2]) : nil)
    }

    /// Picks the first fingerprint whose hash Parley supports, preferring sha-256 (RFC 8122 §5).
    private static func fingerprint(_ attributes: [SDPAttribute]) throws(SDPError) -> DTLSFingerprintLine {
        var fingerprints: [DTLSFingerprintLine] = []
        for attribute in attributes {
            fingerprints.append(try DTLSFingerprintLine(parsing: attribute.value ?? "", line: attribute.sourceLine ?? 0))
        }
        guard let first = fingerprints.first else { throw .noFingerprint }
        for algorithm in DTLSFingerprintLine.supportedAlgorithms {
            if let match = fingerprints.first(where: { $0.algorithm == algorithm }) { return match }
        }
        throw .unsupportedFingerprintAlgorithm(first.algorithm)
    }

    /// The first `webrtc-datachannel` section with a non-zero port or `a=bundle-only`.
    private static func application(in description: SessionDescription) throws(SDPError) -> OfferedApplication? {
        for (index, section) in description.media.enumerated() where section.kind == "application" {
            guard section.proto.hasSuffix("DTLS/SCTP"), section.formats.contains("webrtc-datachannel"),
                  section.port != 0 || section.attribute("bundle-only") != nil else { continue }
            var sctpPort: UInt16 = 5000
            var maxMessageSize: UInt64 = 65536
            for attribute in section.attributes where attribute.name == "sctp-port" || attribute.name == "max-message-size" {
                let value = attribute.value ?? ""
                if attribute.name == "sctp-port" {
                    guard SDPSyntax.isDigits(value), let port = UInt16(value) else {
                        throw .malformed(line: attribute.sourceLine ?? 0, reason: "a=sctp-port must be a port number (RFC 8841 §5)")
                    }
                    sctpPort = port
                } else {
                    guard SDPSyntax.isDigits(value), let size = UInt64(value) else {
                        throw .malformed(line: attribute.sourceLine ?? 0, reason: "a=max-message-size must be a number (RFC 8841 §6)")
                    }
                    maxMessageSize = size
                }
            }
            return OfferedApplication(mid: section.mid, mLineIndex: index, sctpPort: sctpPort, maxMessageSize: maxMessageSize,
                                      sctpInitiation: try sctpInitiation(in: section))
        }
        return nil
    }

    /// The INIT chunk of `a=sctp-init` (draft-hancke-tsvwg-snap-00), if any: base64 that does
    /// not decode, or bytes that are not a valid INIT, make the whole description an error.
    private static func sctpInitiation(in section: SDPMediaDescription) throws(SDPError) -> SCTPInitChunk? {
        let attributes = section.attributes.filter { $0.name == "sctp-init" }
        guard let attribute = attributes.first else { return nil }
        let line = attribute.sourceLine ?? 0
        guard attributes.count == 1 else {
            throw .malformed(line: attributes[1].sourceLine ?? 0, reason: "a data channel section has more than one a=sctp-init")
        }
        let bytes: [UInt8]
        switch Base64.decodeCanonical((attribute.value ?? "").utf8) {
        case .success(let decoded) where !decoded.isEmpty:
            bytes = decoded
        case .success:
            throw .malformed(line: line, reason: "a=sctp-init needs a base64 SCTP INIT chunk as its value (draft-hancke-tsvwg-snap-00)")
        case .failure(let error):
            let problem = switch error {
            case .impossibleLength: "its length is not a multiple of 4 characters"
            case .invalidSymbol(let offset): "character \(offset + 1) is not a base64 symbol"
            case .nonZeroTrailingBits: "its last symbol has bits set past the final byte"
            }
            throw .malformed(line: line, reason: "a=sctp-init is not padded base64 (RFC 4648 §4): \(problem)")
        }
        do {
            return try SCTPInitChunk(chunk: bytes)
        } catch {
            throw .malformed(line: line, reason: "a=sctp-init is not a valid SCTP INIT chunk: \(error)")
        }
    }
}
