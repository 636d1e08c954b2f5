import Testing
import ParleyWire

@Test(arguments: SDPFixtures.all.map(\.name))
func serializationReproducesTheWireText(name: String) throws {
    let wire = SDPFixtures.crlf(try #require(SDPFixtures.all.first { $0.name == name }).text) + "\r\n"
    let description = try SessionDescription(parsing: wire)
    #expect(description.serialized() == wire)
    #expect(try SessionDescription(parsing: description.serialized()) == description)
}

@Test func parsesTheGenericStructure() throws {
    let description = try SessionDescription(parsing: SDPFixtures.aiortc)
    #expect(description.origin == SDPOrigin(username: "-", sessionID: "4004536109", sessionVersion: "4004536109",
                                           networkType: "IN", addressType: "IP4", address: "0.0.0.0"))
    #expect(description.sessionName == "-")
    #expect(description.otherLines == [SDPLine(type: "t", value: "0 0")])
    #expect(description.sessionAttributes == [SDPAttribute("group", "BUNDLE 0 1"), SDPAttribute("msid-semantic", "WMS *")])
    let audio = description.media[0]
    #expect(audio.kind == "audio")
    #expect(audio.port == 34714)
    #expect(audio.proto == "UDP/TLS/RTP/SAVPF")
    #expect(audio.formats == ["96", "9", "0", "8"])
    #expect(audio.connection == SDPConnection(address: "192.0.2.2"))
    #expect(audio.attribute("rtcp-mux") == "")
    #expect(audio.attribute("absent") == nil)
    #expect(audio.attributes(named: "fingerprint").count == 3)
    #expect(audio.attributes[0] == SDPAttribute("sendrecv"))
    #expect(audio.attributes[0].sourceLine == 9)
}

@Test func keepsUnknownLinesAndAttributesInOrder() throws {
    let text = """
    v=0
    o=alice 1 1 IN IP6 ::1
    s=call
    i=information
    u=https://example.com/call
    e=alice@example.com
    c=IN IP6 ::1
    b=AS:64
    t=0 0
    r=7d 1h 0 25h
    a=x-unknown:some value with spaces
    a=x-flag
    m=audio 49170/2 RTP/AVP 0
    i=media title
    c=IN IP6 ::2
    b=TIAS:64000
    a=x-media:1
    """
    let description = try SessionDescription(parsing: text)
    #expect(description.otherLines.map(\.type) == ["i", "u", "e", "b", "t", "r"])
    #expect(description.connection == SDPConnection(addressType: "IP6", address: "::1"))
    #expect(description.attribute("x-unknown") == "some value with spaces")
    #expect(description.media[0].numberOfPorts == 2)
    #expect(description.media[0].otherLines == [SDPLine(type: "i", value: "media title"), SDPLine(type: "b", value: "TIAS:64000")])
    #expect(description.serialized() == SDPFixtures.crlf(text) + "\r\n")
}

@Test func attributeWithEmptyValueDiffersFromPropertyAttribute() throws {
    let description = try SessionDescription(parsing: "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\na=x:\na=y")
    #expect(description.sessionAttributes == [SDPAttribute("x", ""), SDPAttribute("y")])
    #expect(description.serialized().contains("a=x:\r\na=y\r\n"))
}

@Test(arguments: [
    ("", 1, "empty"),
    ("v=1\no=- 1 1 IN IP4 0.0.0.0\ns=-", 1, "v=0"),
    ("o=- 1 1 IN IP4 0.0.0.0\nv=0\ns=-", 1, "v=0"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nno equals sign", 4, "<type>=<value>"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\n\na=x", 4, "<type>=<value>"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nx=unknown", 4, "not an SDP line type"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nA=upper", 4, "not an SDP line type"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\na =spaced", 4, "<type>=<value>"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nv=0", 4, "second 'v='"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\no=- 2 1 IN IP4 0.0.0.0\ns=-", 3, "second 'o='"),
    ("v=0\ns=-\nt=0 0", 3, "no 'o='"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0", 2, "no 's='"),
    ("v=0\no=- abc 1 IN IP4 0.0.0.0\ns=-", 2, "numeric"),
    ("v=0\no=- 1 1 IN IP4\ns=-", 2, "'o='"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nc=IN IP4", 4, "'c='"),
    ("v=0\nm=audio 9 RTP/AVP 0", 2, "before the session's"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nm=audio 70000 RTP/AVP 0", 4, "0 to 65535"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nm=audio -1 RTP/AVP 0", 4, "0 to 65535"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nm=audio 9/x RTP/AVP 0", 4, "port count"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nm=audio 9 UDP/TLS/RTP/SAVPF", 4, "at least one format"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nm=audio 9 UDP//SAVPF 0", 4, "proto"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nm=audio 9 RTP/AVP 0\nt=0 0", 5, "session-level"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nm=audio 9 RTP/AVP 0\nc=IN IP4 1.1.1.1\nc=IN IP4 2.2.2.2", 6, "second 'c='"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\na=:novalue", 4, "not a token"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\na=x\u{0}y", 4, "NUL"),
    ("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\na=x\ry", 4, "bare CR"),
])
func rejectsStructuralNonsense(text: String, line: Int, reasonFragment: String) {
    #expect {
        try SessionDescription(parsing: text)
    } throws: { error in
        guard case .malformed(let errorLine, let reason) = error as? SDPError else { return false }
        return errorLine == line && reason.contains(reasonFragment)
    }
}

@Test func rejectsOversizedInputBeforeParsing() {
    let text = SDPFixtures.chromium + "\n" + String(repeating: "a=x-padding:0123456789abcdef\n", count: 3000)
    #expect(throws: SDPError.tooLarge(bytes: text.utf8.count)) { try SessionDescription(parsing: text) }
    #expect(throws: SDPError.tooLarge(bytes: text.utf8.count)) { try SDPOffer(parsing: text) }
}

@Test func toleratesTrailingBlankLinesAndExtraSpaces() throws {
    let description = try SessionDescription(parsing: "v=0\r\no=-  1 1 IN IP4 0.0.0.0\r\ns=-\r\nm=audio  9 RTP/AVP 0 \r\n\r\n\n")
    #expect(description.media[0].formats == ["0"])
    #expect(description.origin.sessionID == "1")
}

@Test func errorDescriptionsSayWhatWasWrong() {
    #expect(SDPError.malformed(line: 7, reason: "'x' is not an SDP line type").description == "line 7: 'x' is not an SDP line type")
    #expect(SDPError.tooLarge(bytes: 70000).description.contains("70000"))
    #expect(SDPError.noAudio.description.contains("m=audio"))
    #expect(SDPError.noCommonCodec.description.contains("opus/48000/2"))
    #expect(SDPError.noFingerprint.description.contains("a=fingerprint"))
    #expect(SDPError.unsupportedFingerprintAlgorithm("md5").description.contains("'md5'"))
    #expect(SDPError.noICECredentials.description.contains("a=ice-ufrag"))
    #expect(SDPError.unsupportedSetup("holdconn").description.contains("a=setup:holdconn"))
}
