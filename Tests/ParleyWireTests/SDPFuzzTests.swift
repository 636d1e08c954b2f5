import ParleyTestSupport
import Testing
import ParleyWire


private let fragments = ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2", "a=mid:0", "a=mid:", "a=group:BUNDLE 0 0",
                         "a=setup:holdconn", "a=fingerprint:sha-256 00", "a=ice-ufrag:", "a=candidate:1 1 udp 1 ::1 9 typ host",
                         "a=extmap:999999 x", "a=ssrc:99999999999", "m=application 0 UDP/DTLS/SCTP webrtc-datachannel",
                         "a=sctp-port:99999", "c=IN", "\r", "\u{0}", "=", ":", " ", "é", "\u{301}", "99999999999999999999"]

/// One random edit of an SDP text: byte flips, truncation, line deletion, duplication, swaps,
/// or insertion of a fragment chosen to hit parser edge cases.
private func mutate(_ text: String, using generator: inout SeededGenerator) -> String {
    var bytes = Array(text.utf8)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    switch Int.random(in: 0..<7, using: &generator) {
    case 0:
        for _ in 0..<Int.random(in: 1...8, using: &generator) where !bytes.isEmpty {
            bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
        }
        return String(decoding: bytes, as: UTF8.self)
    case 1:
        return String(decoding: bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)), as: UTF8.self)
    case 2:
        lines.remove(at: Int.random(in: 0..<lines.count, using: &generator))
    case 3:
        let index = Int.random(in: 0..<lines.count, using: &generator)
        lines.insert(lines[index], at: Int.random(in: 0...lines.count, using: &generator))
    case 4:
        lines.swapAt(Int.random(in: 0..<lines.count, using: &generator), Int.random(in: 0..<lines.count, using: &generator))
    case 5:
        let fragment = fragments.randomElement(using: &generator) ?? ""
        lines.insert(fragment, at: Int.random(in: 0...lines.count, using: &generator))
    default:
        let index = Int.random(in: 0..<lines.count, using: &generator)
        var line = Array(lines[index].utf8)
        let cut = Int.random(in: 0...line.count, using: &generator)
        line.insert(contentsOf: (fragments.randomElement(using: &generator) ?? "").utf8, at: cut)
        lines[index] = String(decoding: line, as: UTF8.self)
    }
    return lines.joined(separator: "\n")
}

/// Parses `text` every way Parley does; whatever parses must answer, and the answer must parse.
private func exercise(_ text: String, acceptApplication: Bool) -> (description: Bool, offer: Bool) {
    guard let description = try? SessionDescription(parsing: text) else { return (false, false) }
    #expect((try? SessionDescription(parsing: description.serialized())) == description)
    guard let offer = try? SDPOffer(parsing: text) else { return (true, false) }
    _ = offer.candidates.map(\.peerAddress)
    var parameters = SDPFixtures.serverParameters
    parameters.acceptApplication = acceptApplication
    let answerText = SDPAnswerBuilder.answer(to: offer, with: parameters)
    #expect(throws: Never.self) {
        let answer = try SDPAnswer(parsing: answerText)
        #expect(answer.audio.opusPayloadType == offer.audio.opusPayloadType)
        #expect(answer.description.media.count == offer.description.media.count)
    }
    _ = try? SDPAnswer(parsing: text)
    return (true, true)
}

@Test func fiveThousandMutatedOffersNeverCrashAndAlwaysAnswerConsistently() {
    var generator = SeededGenerator(seed: 0x5DB0_FFE2)
    var parsedDescriptions = 0
    var parsedOffers = 0
    for iteration in 0..<5000 {
        let base = SDPFixtures.all[iteration % SDPFixtures.all.count].text
        var text = base
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            text = mutate(text, using: &generator)
        }
        let result = exercise(iteration % 2 == 0 ? text : SDPFixtures.crlf(text), acceptApplication: iteration % 3 == 0)
        parsedDescriptions += result.description ? 1 : 0
        parsedOffers += result.offer ? 1 : 0
    }
    // The mutations must leave many inputs valid, or the property checks above test nothing.
    #expect(parsedOffers > 1000)
    #expect(parsedDescriptions > parsedOffers)
    #expect(parsedDescriptions < 5000)
}

@Test func randomBytesNeverCrash() {
    var generator = SeededGenerator(seed: 42)
    for _ in 0..<1000 {
        let count = Int.random(in: 0...300, using: &generator)
        var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
        if Bool.random(using: &generator) { bytes = Array("v=0\n".utf8) + bytes }
        let text = String(decoding: bytes, as: UTF8.self)
        _ = exercise(text, acceptApplication: true)
        _ = try? SDPCandidate(parsing: text)
        _ = try? DTLSFingerprintLine(parsing: text)
    }
}
