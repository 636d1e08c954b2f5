import Testing
import ParleyWire

@Test func offerWithoutAudioThrowsNoAudio() {
    let applicationOnly = SDPFixtures.removingLines(SDPFixtures.aiortc) { _ in false }
        .split(separator: "m=application", maxSplits: 1).map(String.init)
    let sessionPart = applicationOnly[0].split(separator: "m=audio", maxSplits: 1)[0]
    #expect(throws: SDPError.noAudio) { try SDPOffer(parsing: sessionPart + "m=application" + applicationOnly[1]) }
    let rejectedAudio = SDPFixtures.replacingLine(SDPFixtures.chromium, "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
                                                  with: "m=audio 0 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126")
    #expect(throws: SDPError.noAudio) { try SDPOffer(parsing: rejectedAudio) }
}

@Test func offerWithoutOpusThrowsNoCommonCodec() {
    let noOpus = SDPFixtures.removingLines(SDPFixtures.chromium) { $0 == "a=rtpmap:111 opus/48000/2" }
    #expect(throws: SDPError.noCommonCodec) { try SDPOffer(parsing: noOpus) }
    let monoOpus = SDPFixtures.replacingLine(SDPFixtures.firefox, "a=rtpmap:109 opus/48000/2", with: "a=rtpmap:109 opus/48000/1")
    #expect(throws: SDPError.noCommonCodec) { try SDPOffer(parsing: monoOpus) }
    // No channel count at all (GStreamer's webrtcbin before its payloader settles) is taken,
    // as other stacks take it; the answer writes opus/48000/2.
    let countless = SDPFixtures.replacingLine(SDPFixtures.firefox, "a=rtpmap:109 opus/48000/2", with: "a=rtpmap:109 opus/48000")
    #expect((try? SDPOffer(parsing: countless))?.audio.opusPayloadType == 109)
    let plainRTP = SDPFixtures.replacingLine(SDPFixtures.aiortc, "m=audio 34714 UDP/TLS/RTP/SAVPF 96 9 0 8",
                                             with: "m=audio 34714 RTP/AVP 96 9 0 8")
    #expect(throws: SDPError.noCommonCodec) { try SDPOffer(parsing: plainRTP) }
    let opusNotListed = SDPFixtures.replacingLine(SDPFixtures.aiortc, "m=audio 34714 UDP/TLS/RTP/SAVPF 96 9 0 8",
                                                  with: "m=audio 34714 UDP/TLS/RTP/SAVPF 9 0 8")
    #expect(throws: SDPError.noCommonCodec) { try SDPOffer(parsing: opusNotListed) }
}

@Test func opusNameIsCaseInsensitive() throws {
    let upper = SDPFixtures.replacingLine(SDPFixtures.firefox, "a=rtpmap:109 opus/48000/2", with: "a=rtpmap:109 OPUS/48000/2")
    #expect(try SDPOffer(parsing: upper).audio.opusPayloadType == 109)
}

@Test func offerWithoutFingerprintThrowsNoFingerprint() {
    for (name, text) in SDPFixtures.all {
        let stripped = SDPFixtures.removingLines(text) { $0.hasPrefix("a=fingerprint:") }
        #expect(throws: SDPError.noFingerprint, "\(name)") { try SDPOffer(parsing: stripped) }
    }
}

@Test func offerWithOnlyUnsupportedFingerprintHashThrows() {
    let sha1 = "a=fingerprint:sha-1 " + (0..<20).map { _ in "AB" }.joined(separator: ":")
    let text = SDPFixtures.removingLines(SDPFixtures.firefox) { $0.hasPrefix("a=fingerprint:") }
        .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let withSHA1 = ([text[0], text[1], text[2], text[3], sha1] + text[4...]).joined(separator: "\n")
    #expect(throws: SDPError.unsupportedFingerprintAlgorithm("sha-1")) { try SDPOffer(parsing: withSHA1) }
}

@Test func malformedFingerprintNamesItsLine() {
    let text = SDPFixtures.replacingLine(SDPFixtures.firefox, "a=ice-options:trickle", with: "a=fingerprint:sha-256 AB:CD")
    #expect(throws: SDPError.malformed(line: 7, reason: "a=fingerprint sha-256 digest has 2 bytes; 32 expected")) {
        try SDPOffer(parsing: text)
    }
}

@Test func offerWithoutICECredentialsThrows() {
    for (name, text) in SDPFixtures.all {
        let noUfrag = SDPFixtures.removingLines(text) { $0.hasPrefix("a=ice-ufrag:") }
        #expect(throws: SDPError.noICECredentials, "\(name)") { try SDPOffer(parsing: noUfrag) }
        let noPassword = SDPFixtures.removingLines(text) { $0.hasPrefix("a=ice-pwd:") }
        #expect(throws: SDPError.noICECredentials, "\(name)") { try SDPOffer(parsing: noPassword) }
    }
}

@Test(arguments: ["a=ice-ufrag:zA$t", "a=ice-ufrag:zAL", "a=ice-ufrag:zA Lt", "a=ice-ufrag:zÄLt",
                  "a=ice-pwd:short", "a=ice-pwd:WNBTRlDqiJGmClOEEVnCS=", "a=ice-ufrag"])
func iceCredentialsMustBeICEChars(replacement: String) {
    let original = replacement.hasPrefix("a=ice-pwd") ? "a=ice-pwd:WNBTRlDqiJGmClOEEVnCSW" : "a=ice-ufrag:zALt"
    let text = SDPFixtures.replacingLine(SDPFixtures.aiortc, original, with: replacement)
    #expect {
        try SDPOffer(parsing: text)
    } throws: { error in
        guard case .malformed(let line, let reason) = error as? SDPError else { return false }
        return (line == 24 || line == 25) && reason.contains("ice-chars")
    }
}

@Test func holdconnOfferIsRejected() {
    let text = SDPFixtures.replacingLine(SDPFixtures.safari, "a=setup:actpass", with: "a=setup:holdconn")
    #expect(throws: SDPError.unsupportedSetup("holdconn")) { try SDPOffer(parsing: text) }
    let nonsense = SDPFixtures.replacingLine(SDPFixtures.safari, "a=setup:actpass", with: "a=setup:sideways")
    #expect(throws: SDPError.self) { try SDPOffer(parsing: nonsense) }
}

@Test func duplicateOrInvalidMidsAreRejected() {
    let duplicate = SDPFixtures.replacingLine(SDPFixtures.firefox, "a=mid:1", with: "a=mid:0")
    #expect(throws: SDPError.malformed(line: 34, reason: "a=mid:0 is used by two media sections (RFC 5888 §4)")) {
        try SDPOffer(parsing: duplicate)
    }
    let spaced = SDPFixtures.replacingLine(SDPFixtures.firefox, "a=mid:0", with: "a=mid:a(b)")
    #expect(throws: SDPError.self) { try SDPOffer(parsing: spaced) }
}

@Test func malformedCandidateIsRejectedWithItsLine() {
    let text = SDPFixtures.replacingLine(
        SDPFixtures.aiortc, "a=candidate:f957a2332b1715da3b0ef8ba684454eb 1 udp 2130706431 192.0.2.2 34714 typ host",
        with: "a=candidate:f957a2332b1715da3b0ef8ba684454eb 1 udp 2130706431 192.0.2.2 34714 typo host")
    #expect(throws: SDPError.malformed(line: 21, reason: "a=candidate: expected 'typ <type>' after the port (RFC 8839 §5.1)")) {
        try SDPOffer(parsing: text)
    }
}

@Test func candidateParsingRoundTripsAndRejectsBadFields() throws {
    let trickled = "candidate:3 1 tcp 1518280447 192.0.2.9 9 typ host tcptype active generation 0"
    let candidate = try SDPCandidate(parsing: trickled)
    #expect(candidate.transport == "tcp")
    #expect(candidate.extensions.first == .init(name: "tcptype", value: "active"))
    #expect(candidate.description == trickled)
    #expect(try SDPCandidate(parsing: "1 1 UDP 1 10.0.0.1 1 typ x-new").type == .other("x-new"))
    for bad in ["1 0 udp 1 10.0.0.1 1 typ host", "1 1 udp 4294967296 10.0.0.1 1 typ host", "1 1 udp 1 10.0.0.1 65536 typ host",
                "1 1 udp 1 10.0.0.1 1 typ host raddr", "1 1 udp 1 10.0.0.1 1 typ srflx rport x", "f@o 1 udp 1 10.0.0.1 1 typ host", ""] {
        #expect(throws: SDPError.self, "\(bad)") { try SDPCandidate(parsing: bad) }
    }
    #expect(SDPCandidate.priority(typePreference: 126, localPreference: 65535) == 2_130_706_431)
}

@Test func fingerprintNormalizesCaseAndExposesDigest() throws {
    let line = try DTLSFingerprintLine(parsing: "SHA-256 " + (0..<32).map { _ in "ab" }.joined(separator: ":"))
    #expect(line.algorithm == "sha-256")
    #expect(line.value.hasPrefix("AB:AB"))
    #expect(line.digest == Array(repeating: 0xAB, count: 32))
    #expect(line == DTLSFingerprintLine(algorithm: "sha-256", digest: Array(repeating: 0xAB, count: 32)))
    #expect(throws: SDPError.self) { try DTLSFingerprintLine(parsing: "sha-256 GG:00") }
    #expect(throws: SDPError.self) { try DTLSFingerprintLine(parsing: "sha-256") }
}
