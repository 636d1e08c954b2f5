import ParleyWire
import Testing

/// DTMF (RFC 4733): offers that carry `telephone-event/48000` get it in the answer, others
/// do not; the payload's fields read back as sent, with keys named as in table 1.
@Suite struct TelephoneEventTests {
    @Test func chromiumsTelephoneEventAtOpussClockIsAnswered() throws {
        let offer = try SDPOffer(parsing: SDPFixtures.chromium)
        #expect(offer.audio.telephoneEventPayloadType == 110)
        let answer = SDPAnswerBuilder.answer(to: offer, with: SDPFixtures.serverParameters)
        #expect(answer.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111 110\r\n"))
        #expect(answer.contains("a=rtpmap:110 telephone-event/48000\r\n"))
        #expect(answer.contains("a=fmtp:110 0-15\r\n"))
        #expect(!answer.contains("telephone-event/8000"))
    }

    @Test(arguments: ["aiortc", "firefox"])
    func offersWithoutItAtOpussClockGetNone(name: String) throws {
        let text = try #require(SDPFixtures.all.first { $0.name == name }).text
        let offer = try SDPOffer(parsing: text)
        #expect(offer.audio.telephoneEventPayloadType == nil)
        #expect(!SDPAnswerBuilder.answer(to: offer, with: SDPFixtures.serverParameters).contains("telephone-event"))
    }

    @Test func payloadsReadBackAndKeysAreNamed() throws {
        let end = TelephoneEvent(code: 11, isEnd: true, volume: 10, duration: 4_800)
        #expect(end.payload == [11, 0x8A, 0x12, 0xC0])
        #expect(TelephoneEvent(payload: end.payload) == end)
        #expect(TelephoneEvent(payload: [1, 0x0A, 0, 160, 9, 9])?.isEnd == false)
        #expect(TelephoneEvent(payload: [1, 2, 3]) == nil)
        #expect((0...17).map { TelephoneEvent(code: UInt8($0), isEnd: true, duration: 0).key ?? "-" }.joined() == "0123456789*#ABCD--")
    }
}
