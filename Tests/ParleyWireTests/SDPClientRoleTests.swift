import Testing
import ParleyWire

private let clientParameters = SDPOfferParameters(
    iceUfrag: "clnt", icePassword: "clientPassword+/0123456789",
    fingerprint: DTLSFingerprintLine(algorithm: "sha-256", digest: (0..<32).map { UInt8(255 - $0) }),
    sessionID: 42, audioSSRC: 0x1234_5678, cname: "parley-client")

@Test func clientOfferServerAnswerRoundTrip() throws {
    let offerText = SDPOfferBuilder.offer(with: clientParameters)
    let lines = offerText.split(separator: "\r\n").map(String.init)
    #expect(lines.contains("a=group:BUNDLE 0"))
    #expect(lines.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111"))
    #expect(lines.contains("a=setup:actpass"))
    #expect(!lines.contains { $0.hasPrefix("a=candidate") })

    let offer = try SDPOffer(parsing: offerText)
    #expect(offer.iceUfrag == clientParameters.iceUfrag)
    #expect(offer.icePassword == clientParameters.icePassword)
    #expect(offer.fingerprint == clientParameters.fingerprint)
    #expect(offer.setup == .actpass)
    #expect(offer.audio.opusPayloadType == 111)
    #expect(offer.audio.mid == "0")
    #expect(offer.audio.ssrc == clientParameters.audioSSRC)
    #expect(offer.audio.cname == "parley-client")
    #expect(offer.audio.supportsRTCPMux)
    #expect(offer.application == nil)

    let server = SDPFixtures.serverParameters
    let answer = try SDPAnswer(parsing: SDPAnswerBuilder.answer(to: offer, with: server))
    #expect(answer.isICELite)
    #expect(answer.iceUfrag == server.iceUfrag)
    #expect(answer.icePassword == server.icePassword)
    #expect(answer.fingerprint == server.fingerprint)
    #expect(answer.setup == .active)
    #expect(answer.setup.isDTLSClient)
    #expect(answer.audio.opusPayloadType == 111)
    #expect(answer.audio.ssrc == server.audioSSRC)
    #expect(answer.audio.cname == server.cname)
    #expect(answer.audio.direction == .sendrecv)
    #expect(answer.bundleGroup == ["0"])
    #expect(answer.candidates.map(\.type) == [.host, .host])
    #expect(answer.candidates.compactMap(\.peerAddress) == server.candidates)
    #expect(answer.candidates.map(\.priority) == [2_130_706_431, 2_130_706_175])
}

@Test func clientOfferWithDataChannelAndCustomPayloadType() throws {
    var parameters = clientParameters
    parameters.offerApplication = true
    parameters.opusPayloadType = 109
    let offer = try SDPOffer(parsing: SDPOfferBuilder.offer(with: parameters))
    #expect(offer.bundleGroup == ["0", "1"])
    #expect(offer.application == OfferedApplication(mid: "1", mLineIndex: 1, sctpPort: 5000, maxMessageSize: 262_144))

    var server = SDPFixtures.serverParameters
    server.acceptApplication = true
    let answer = try SDPAnswer(parsing: SDPAnswerBuilder.answer(to: offer, with: server))
    #expect(answer.audio.opusPayloadType == 109)
    #expect(answer.bundleGroup == ["0", "1"])
    #expect(answer.application?.mid == "1")
    #expect(answer.application?.sctpPort == 5000)

    server.acceptApplication = false
    let rejecting = try SDPAnswer(parsing: SDPAnswerBuilder.answer(to: offer, with: server))
    #expect(rejecting.application == nil)
    #expect(rejecting.bundleGroup == ["0"])
}

@Test func answerReaderRejectsActpassAndRejectedAudio() throws {
    let offer = try SDPOffer(parsing: SDPOfferBuilder.offer(with: clientParameters))
    let answer = SDPAnswerBuilder.answer(to: offer, with: SDPFixtures.serverParameters)
    #expect(throws: SDPError.unsupportedSetup("actpass")) {
        try SDPAnswer(parsing: answer.replacing("a=setup:active", with: "a=setup:actpass"))
    }
    #expect(throws: SDPError.noAudio) {
        try SDPAnswer(parsing: answer.replacing("m=audio 9 ", with: "m=audio 0 "))
    }
}
