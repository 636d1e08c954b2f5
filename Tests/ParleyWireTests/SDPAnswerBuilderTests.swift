import Testing
import ParleyWire

/// Checks a server answer line by line against the JSEP §5.3.1 rules Parley follows.
private func checkAnswer(to offerText: String, parameters: SDPAnswerParameters = SDPFixtures.serverParameters,
                         expectApplication: Bool) throws {
    let offer = try SDPOffer(parsing: offerText)
    let text = SDPAnswerBuilder.answer(to: offer, with: parameters)
    #expect(text.hasSuffix("\r\n"))
    #expect(!text.utf8.indices.contains { index in
        text.utf8[index] == 0x0A && (index == text.utf8.startIndex || text.utf8[text.utf8.index(before: index)] != 0x0D)
    })
    let answer = try SessionDescription(parsing: text)
    let offered = offer.description.media

    #expect(text.hasPrefix("v=0\r\no=- \(parameters.sessionID) 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"))
    #expect(answer.attribute("ice-lite") == "")
    #expect(answer.attribute("ice-ufrag") == parameters.iceUfrag)
    #expect(answer.attribute("fingerprint") == parameters.fingerprint.description)
    #expect(answer.attribute("setup") == "active")
    #expect(answer.attribute("msid-semantic") == " WMS parley")
    #expect(answer.media.map(\.kind) == offered.map(\.kind))
    #expect(answer.media.map(\.mid) == offered.map(\.mid))

    let applicationIndex = offer.application?.mLineIndex
    let acceptedMids = offered.enumerated().compactMap { index, section in
        index == offer.audio.mLineIndex || (expectApplication && index == applicationIndex) ? section.mid : nil
    }
    #expect(answer.bundleGroups == [acceptedMids])

    let fingerprint = parameters.fingerprint.description
    let candidates = parameters.candidates.enumerated().map { index, address in
        "\(index + 1) 1 udp \(126 << 24 + (65535 - index) << 8 + 255) \(address.ip) \(address.port) typ host"
    }
    for (index, section) in answer.media.enumerated() {
        if index == offer.audio.mLineIndex {
            let pt = String(offer.audio.opusPayloadType)
            #expect(section.port == 9)
            #expect(section.proto == "UDP/TLS/RTP/SAVPF")
            // Opus, and DTMF (RFC 4733) where the offer has telephone-event at Opus's clock.
            let events = offer.audio.telephoneEventPayloadType.map { String($0) }
            #expect(section.formats == [pt] + (events.map { [$0] } ?? []))
            #expect(section.attributes(named: "rtpmap") == ["\(pt) opus/48000/2"] + (events.map { ["\($0) telephone-event/48000"] } ?? []))
            #expect(section.attributes(named: "fmtp") == ["\(pt) minptime=10;useinbandfec=1"] + (events.map { ["\($0) 0-15"] } ?? []))
            #expect(section.attributes(named: "rtcp-fb") == (offer.audio.rtcpFeedback.contains("nack") ? ["\(pt) nack"] : []))
            #expect(section.direction == .sendrecv)
            #expect(section.attribute("rtcp-mux") == "")
            #expect(section.attribute("ice-ufrag") == parameters.iceUfrag)
            #expect(section.attribute("ice-pwd") == parameters.icePassword)
            #expect(section.attributes(named: "fingerprint") == [fingerprint])
            #expect(section.attribute("setup") == "active")
            #expect(section.attribute("ssrc") == "\(parameters.audioSSRC) cname:\(parameters.cname)")
            #expect(section.attribute("msid") == "parley audio")
            #expect(section.attributes(named: "candidate") == candidates)
            #expect(section.attributes.last == SDPAttribute("end-of-candidates"))
        } else if expectApplication, index == applicationIndex {
            #expect(section.port == 9)
            #expect(section.proto == "UDP/DTLS/SCTP")
            #expect(section.formats == ["webrtc-datachannel"])
            #expect(section.attribute("sctp-port") == "5000")
            #expect(section.attribute("max-message-size") == "262144")
            #expect(section.attribute("setup") == "active")
            #expect(section.attribute("ice-ufrag") == parameters.iceUfrag)
            #expect(section.attributes(named: "candidate") == candidates)
        } else {
            #expect(section.port == 0)
            #expect(section.proto == offered[index].proto)
            #expect(section.formats == offered[index].formats)
            #expect(section.attributes == [SDPAttribute("mid", offered[index].mid ?? "")])
        }
    }

    let parsed = try SDPAnswer(parsing: text)
    #expect(parsed.isICELite)
    #expect(parsed.setup == .active)
    #expect(parsed.iceUfrag == parameters.iceUfrag)
    #expect(parsed.fingerprint == parameters.fingerprint)
    #expect(parsed.audio.opusPayloadType == offer.audio.opusPayloadType)
    #expect(parsed.audio.ssrc == parameters.audioSSRC)
    #expect(parsed.candidates.compactMap(\.peerAddress) == parameters.candidates)
    #expect((parsed.application != nil) == expectApplication)
}

@Test(arguments: SDPFixtures.all.map(\.name), [false, true])
func answerFollowsJSEPRules(name: String, acceptApplication: Bool) throws {
    let text = try #require(SDPFixtures.all.first { $0.name == name }).text
    var parameters = SDPFixtures.serverParameters
    parameters.acceptApplication = acceptApplication
    try checkAnswer(to: SDPFixtures.crlf(text), parameters: parameters, expectApplication: acceptApplication)
}

@Test func chromiumAnswerRejectsVideoAndDataChannelWithPortZero() throws {
    let offer = try SDPOffer(parsing: SDPFixtures.chromium)
    let text = SDPAnswerBuilder.answer(to: offer, with: SDPFixtures.serverParameters)
    let lines = text.split(separator: "\r\n").map(String.init)
    #expect(lines.contains("a=group:BUNDLE 0"))
    #expect(lines.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111 110"))
    #expect(lines.contains { $0.hasPrefix("m=video 0 UDP/TLS/RTP/SAVPF 96 97 102") })
    #expect(lines.contains("m=application 0 UDP/DTLS/SCTP webrtc-datachannel"))
    #expect(lines.contains("a=candidate:1 1 udp 2130706431 198.51.100.10 3478 typ host"))
    #expect(lines.contains("a=candidate:2 1 udp 2130706175 2001:db8::10 3478 typ host"))
    #expect(lines.filter { $0 == "a=end-of-candidates" }.count == 1)
}

/// RFC 6544: a relay's TCP port appears as a `tcptype passive` host candidate, after the UDP
/// ones and below all of them, with RFC 6544 §4.2's local preference (direction 4, passive).
@Test func tcpCandidatesArePassiveAndBelowEveryUDPCandidate() throws {
    let offer = try SDPOffer(parsing: SDPFixtures.chromium)
    var parameters = SDPFixtures.serverParameters
    parameters.tcpCandidates = [PeerAddress("198.51.100.10:443")!, PeerAddress("[2001:db8::10]:443")!]
    let text = SDPAnswerBuilder.answer(to: offer, with: parameters)
    let lines = text.split(separator: "\r\n").map(String.init)
    #expect(lines.contains("a=candidate:3 1 tcp \(126 << 24 + (4 << 13 + 8191) << 8 + 255) 198.51.100.10 443 typ host tcptype passive"))
    #expect(lines.contains("a=candidate:4 1 tcp \(126 << 24 + (4 << 13 + 8190) << 8 + 255) 2001:db8::10 443 typ host tcptype passive"))

    let answer = try SDPAnswer(parsing: text)
    let udp = answer.candidates.filter { $0.transport == "udp" }
    let tcp = answer.candidates.filter { $0.transport == "tcp" }
    #expect(udp.count == 2 && tcp.count == 2)
    #expect(tcp.allSatisfy { $0.extensions == [SDPCandidate.Extension(name: "tcptype", value: "passive")] && $0.type == .host })
    #expect(tcp.map(\.peerAddress) == parameters.tcpCandidates)
    #expect(tcp.map(\.priority).max()! < udp.map(\.priority).min()!)
    #expect(Set(answer.candidates.map(\.foundation)).count == 4)
}

@Test(arguments: [(MediaDirection.sendrecv, MediaDirection.sendrecv), (.sendonly, .recvonly), (.recvonly, .sendonly), (.inactive, .inactive)])
func answerMirrorsTheOfferedDirection(offered: MediaDirection, answered: MediaDirection) throws {
    let text = SDPFixtures.replacingLine(SDPFixtures.safari, "a=sendrecv", with: "a=\(offered)")
    let offer = try SDPOffer(parsing: text)
    #expect(offer.audio.direction == offered)
    let answer = try SessionDescription(parsing: SDPAnswerBuilder.answer(to: offer, with: SDPFixtures.serverParameters))
    let audio = answer.media[0]
    #expect(audio.direction == answered)
    // Only a sending answerer announces its SSRC and stream.
    #expect((audio.attribute("ssrc") != nil) == answered.sends)
    #expect((audio.attribute("msid") != nil) == answered.sends)
}

@Test func answerAcceptsNACKOnlyWhenOffered() throws {
    let text = SDPFixtures.replacingLine(SDPFixtures.chromium, "a=rtcp-fb:111 transport-cc", with: "a=rtcp-fb:111 transport-cc\na=rtcp-fb:111 nack")
    let offer = try SDPOffer(parsing: text)
    #expect(offer.audio.rtcpFeedback == ["transport-cc", "nack"])
    let answer = try SessionDescription(parsing: SDPAnswerBuilder.answer(to: offer, with: SDPFixtures.serverParameters))
    #expect(answer.media[0].attributes(named: "rtcp-fb") == ["111 nack"])
}

@Test func answerTakesTheOppositeRoleOfAnActiveOrPassiveOffer() throws {
    for (offered, expected) in [(DTLSSetup.active, DTLSSetup.passive), (.passive, .active)] {
        let text = SDPFixtures.replacingLine(SDPFixtures.firefox, "a=setup:actpass", with: "a=setup:\(offered)")
        let offer = try SDPOffer(parsing: text)
        #expect(offer.setup.answerRole(preferring: .active) == expected)
        let answer = try SDPAnswer(parsing: SDPAnswerBuilder.answer(to: offer, with: SDPFixtures.serverParameters))
        #expect(answer.setup == expected)
    }
    #expect(DTLSSetup.actpass.answerRole(preferring: .passive) == .passive)
    #expect(DTLSSetup.holdconn.answerRole() == nil)
}

@Test func secondAudioSectionIsRejected() throws {
    let secondAudio = """
    m=audio 9 UDP/TLS/RTP/SAVPF 111
    c=IN IP4 0.0.0.0
    a=mid:9
    a=rtpmap:111 opus/48000/2
    """
    let offer = try SDPOffer(parsing: SDPFixtures.firefox + "\n" + secondAudio)
    #expect(offer.audio.mLineIndex == 0)
    let answer = try SessionDescription(parsing: SDPAnswerBuilder.answer(to: offer, with: SDPFixtures.serverParameters))
    #expect(answer.media.map(\.port) == [9, 0, 0])
    #expect(answer.media[2].attributes == [SDPAttribute("mid", "9")])
}

@Test func unbundledDataChannelIsNotAcceptedBecauseParleyRunsOneTransport() throws {
    let text = SDPFixtures.replacingLine(SDPFixtures.aiortc, "a=group:BUNDLE 0 1", with: "a=group:BUNDLE 0")
    var parameters = SDPFixtures.serverParameters
    parameters.acceptApplication = true
    let answer = try SDPAnswer(parsing: SDPAnswerBuilder.answer(to: SDPOffer(parsing: text), with: parameters))
    #expect(answer.application == nil)
    #expect(answer.description.media[1].port == 0)
    #expect(answer.bundleGroup == ["0"])
}

/// SPED (draft-hancke-webrtc-sped): Chromium 156 with `WebRTC-IceHandshakeDtls` offers
/// `a=ice-options:trickle sped googspedv1`; an answer that accepts lists the SPED options it
/// recognised with the transport attributes, and the offer without them answers as before.
@Test func answerEchoesTheOfferedSPEDOptions() throws {
    let spedOffer = SDPFixtures.chromium.split(separator: "\n", omittingEmptySubsequences: false)
        .map { $0.hasPrefix("a=ice-options:trickle") ? "a=ice-options:trickle sped googspedv1" + ($0.hasSuffix("\r") ? "\r" : "") : String($0) }
        .joined(separator: "\n")
    let offer = try SDPOffer(parsing: spedOffer)
    #expect(offer.iceOptions == ["trickle", "sped", "googspedv1"])
    var parameters = SDPFixtures.serverParameters
    parameters.acceptApplication = true
    parameters.setup = .passive
    parameters.iceOptions = SPEDICEOption.accepted(from: offer.iceOptions)
    let answer = try SDPAnswer(parsing: SDPAnswerBuilder.answer(to: offer, with: parameters))
    #expect(answer.iceOptions == ["sped", "googspedv1"])
    #expect(answer.setup == .passive)
    let accepted = answer.description.media.filter { $0.port != 0 }
    #expect(accepted.count == 2 && accepted.allSatisfy { $0.attribute("ice-options") == "sped googspedv1" })
    let plain = try SDPAnswer(parsing: SDPAnswerBuilder.answer(to: try SDPOffer(parsing: SDPFixtures.chromium),
                                                              with: SDPFixtures.serverParameters))
    #expect(plain.iceOptions.isEmpty)
}
