import ParleyTestSupport
import ParleyWire
import Testing

/// SNAP's `a=sctp-init` (draft-hancke-tsvwg-snap-00): an SCTP INIT chunk (RFC 9260 §3.3.2),
/// base64 in the data channel section of offers and answers.
@Suite struct SDPSCTPInitTests {
    /// Chromium 156 with `--enable-features=WebRtcSctpSnap`.
    static let chromiumValue = "AQAAHmDXqoIAUAAA/////yRprAbAAAAEgAgABoLA"
    /// The draft's example offer and answer.
    static let draftOfferValue = "AQAAHols3R0AUAAA/////+B5ZR3AAAAEgAgABoLA"
    static let draftAnswerValue = "AQAAHl+zdHQAUAAA/////6Gq3HTAAAAEgAgABoLA"

    /// The Chromium fixture offer with `value` as the data channel section's last line, and
    /// that line's number.
    static func chromiumOffer(sctpInit value: String) -> (text: String, line: Int) {
        let text = SDPFixtures.chromium + "\na=sctp-init:" + value
        return (text, text.split(separator: "\n", omittingEmptySubsequences: false).count)
    }

    /// What the three INITs share: a 1.25 MiB window, 65535 streams each way, and
    /// Forward-TSN-Supported plus Supported Extensions listing RE-CONFIG and FORWARD-TSN.
    static func browserInitiation(tag: UInt32, initialTSN: UInt32) -> SCTPInitChunk {
        SCTPInitChunk(initiateTag: tag, advertisedReceiverWindowCredit: 0x0050_0000, outboundStreams: 65535,
                      inboundStreams: 65535, initialTSN: initialTSN,
                      parameters: [.forwardTSNSupported, .supportedExtensions([0x82, 0xC0])])
    }

    @Test(arguments: [
        (SDPSCTPInitTests.chromiumValue, UInt32(0x60D7_AA82), UInt32(0x2469_AC06)),
        (SDPSCTPInitTests.draftOfferValue, 0x896C_DD1D, 0xE079_651D),
        (SDPSCTPInitTests.draftAnswerValue, 0x5FB3_7474, 0xA1AA_DC74),
    ])
    func browserAndDraftValuesParseIntoTheirFields(value: String, tag: UInt32, initialTSN: UInt32) throws {
        let offer = try SDPOffer(parsing: Self.chromiumOffer(sctpInit: value).text)
        let initiation = try #require(offer.application?.sctpInitiation)
        #expect(initiation == Self.browserInitiation(tag: tag, initialTSN: initialTSN))
        #expect(initiation.supportsForwardTSN && initiation.supportsReconfig)
        // Written back, the chunk is the same 30 bytes: no padding after the last parameter.
        #expect(Base64.encodePadded(initiation.chunk) == value)
    }

    @Test func theChunksPaddingMayFollowIt() throws {
        let offer = try SDPOffer(parsing: Self.chromiumOffer(sctpInit: Self.chromiumValue + "AAA=").text)
        #expect(offer.application?.sctpInitiation == Self.browserInitiation(tag: 0x60D7_AA82, initialTSN: 0x2469_AC06))
    }

    @Test func offerWithoutTheAttributeHasNoInitiation() throws {
        let offer = try SDPOffer(parsing: SDPFixtures.chromium)
        #expect(offer.application != nil && offer.application?.sctpInitiation == nil)
    }

    @Test func ourInitiationRoundTripsThroughOfferAndAnswer() throws {
        let ours = SCTPInitChunk(initiateTag: 0xDEAD_BEEF, advertisedReceiverWindowCredit: 1_048_576, outboundStreams: 1024,
                                 inboundStreams: 1024, initialTSN: 7,
                                 parameters: [.forwardTSNSupported, .supportedExtensions([0xC0, 0x82])])
        // 20 fixed bytes, 4 of Forward-TSN-Supported, 6 of Supported Extensions: 30, padded
        // only on the wire.
        #expect(ours.chunk.count == 30)
        #expect(try SCTPInitChunk(chunk: ours.chunk) == ours)
        #expect(try SCTPInitChunk(chunk: ours.chunk + [0, 0]) == ours)

        var offerParameters = SDPOfferParameters(
            iceUfrag: "cli1", icePassword: "clientPassword0123456789",
            fingerprint: SDPFixtures.serverParameters.fingerprint, sessionID: 1, audioSSRC: 2, cname: "client",
            offerApplication: true, sctpInitiation: ours)
        let offer = try SDPOffer(parsing: SDPOfferBuilder.offer(with: offerParameters))
        #expect(offer.application?.sctpInitiation == ours)

        var answerParameters = SDPFixtures.serverParameters
        answerParameters.acceptApplication = true
        answerParameters.sctpInitiation = Self.browserInitiation(tag: 0x5FB3_7474, initialTSN: 0xA1AA_DC74)
        let answerText = SDPAnswerBuilder.answer(to: offer, with: answerParameters)
        #expect(answerText.contains("a=sctp-init:\(Self.draftAnswerValue)\r\n"))
        #expect(try SDPAnswer(parsing: answerText).application?.sctpInitiation == answerParameters.sctpInitiation)

        // An offer without the attribute gets an answer without it, whatever the answerer has.
        offerParameters.sctpInitiation = nil
        let classic = try SDPOffer(parsing: SDPOfferBuilder.offer(with: offerParameters))
        let classicAnswer = SDPAnswerBuilder.answer(to: classic, with: answerParameters)
        #expect(!classicAnswer.contains("sctp-init"))
        #expect(try SDPAnswer(parsing: classicAnswer).application?.sctpInitiation == nil)
    }

    @Test(arguments: [
        // Not base64.
        ("AQAAHmDXqoIAUAAA/////yRprAbAAAAEgAgABoL", "a=sctp-init is not padded base64 (RFC 4648 §4): its length is not a multiple of 4 characters"),
        ("AQAAHmDXqoIAUAAA/////yRprAbAAAAEgAgABoL*", "a=sctp-init is not padded base64 (RFC 4648 §4): character 40 is not a base64 symbol"),
        ("AQAAHmDXqoIAUAAA/////yRp=AbAAAAEgAgABoLA", "a=sctp-init is not padded base64 (RFC 4648 §4): character 25 is not a base64 symbol"),
        (SDPSCTPInitTests.chromiumValue + "AAB=", "a=sctp-init is not padded base64 (RFC 4648 §4): its last symbol has bits set past the final byte"),
        ("", "a=sctp-init needs a base64 SCTP INIT chunk as its value (draft-hancke-tsvwg-snap-00)"),
        // Base64, but not a valid INIT: an INIT-ACK, a chunk cut short, zero tag, zero streams,
        // bytes after the chunk's padding.
        (Base64.encodePadded([2] + Array([UInt8](fromBase64: SDPSCTPInitTests.chromiumValue)[1...])),
         "a=sctp-init is not a valid SCTP INIT chunk: the chunk has type 2 where type 1 belongs"),
        (Base64.encodePadded(Array([UInt8](fromBase64: SDPSCTPInitTests.chromiumValue)[..<24])),
         "a=sctp-init is not a valid SCTP INIT chunk: chunk type 1 is cut short: its length is below 4 or runs past the bytes (RFC 9260 §3.2)"),
        (Base64.encodePadded([1, 0, 0]), "a=sctp-init is not a valid SCTP INIT chunk: chunk type 1 is cut short: its length is below 4 or runs past the bytes (RFC 9260 §3.2)"),
        (Base64.encodePadded([1, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0]),
         "a=sctp-init is not a valid SCTP INIT chunk: chunk type 1 has 8 value bytes, fewer than its fixed fields need"),
        ("AQAAHgAAAAAAUAAA/////yRprAbAAAAEgAgABoLA", "a=sctp-init is not a valid SCTP INIT chunk: the INIT is invalid: zero initiate tag (RFC 9260 §3.3.2)"),
        ("AQAAHmDXqoIAUAAAAAD//yRprAbAAAAEgAgABoLA", "a=sctp-init is not a valid SCTP INIT chunk: the INIT is invalid: zero streams (RFC 9260 §3.3.2)"),
        (Base64.encodePadded([UInt8](fromBase64: SDPSCTPInitTests.chromiumValue) + [0, 0, 0, 0]),
         "a=sctp-init is not a valid SCTP INIT chunk: chunk type 1 does not have the size its length and counts declare"),
    ])
    func badValuesAreAnErrorThatSaysWhatIsWrong(value: String, reason: String) {
        let (text, line) = Self.chromiumOffer(sctpInit: value)
        #expect(throws: SDPError.malformed(line: line, reason: reason)) { try SDPOffer(parsing: text) }
    }

    @Test func aSecondAttributeIsAnError() {
        let (text, line) = Self.chromiumOffer(sctpInit: Self.chromiumValue)
        #expect(throws: SDPError.malformed(line: line + 1, reason: "a data channel section has more than one a=sctp-init")) {
            try SDPOffer(parsing: text + "\na=sctp-init:" + Self.draftOfferValue)
        }
    }

    @Test func answersAreCheckedLikeOffers() throws {
        var parameters = SDPFixtures.serverParameters
        parameters.acceptApplication = true
        parameters.sctpInitiation = Self.browserInitiation(tag: 1, initialTSN: 2)
        let answer = SDPAnswerBuilder.answer(to: try SDPOffer(parsing: Self.chromiumOffer(sctpInit: Self.chromiumValue).text),
                                             with: parameters)
        let broken = answer.replacingOccurrences(of: "a=sctp-init:AQAAH", with: "a=sctp-init:AgAAH")
        #expect(throws: SDPError.self) { try SDPAnswer(parsing: broken) }
    }

    @Test func canonicalBase64RequiresPaddingAndNothingAfterIt() {
        #expect(Base64.encodePadded([0xFF]) == "/w==")
        #expect(Base64.encodePadded([0xFF, 0xEE]) == "/+4=")
        #expect(Base64.encodePadded([0xFF, 0xEE, 0xDD]) == "/+7d")
        #expect(Base64.decodeCanonical("/w==".utf8) == .success([0xFF]))
        #expect(Base64.decodeCanonical("/+4=".utf8) == .success([0xFF, 0xEE]))
        #expect(Base64.decodeCanonical("".utf8) == .success([]))
        #expect(Base64.decodeCanonical("/w".utf8) == .failure(.impossibleLength))
        #expect(Base64.decodeCanonical("/w=".utf8) == .failure(.impossibleLength))
        #expect(Base64.decodeCanonical("/===".utf8) == .failure(.invalidSymbol(offset: 1)))
        #expect(Base64.decodeCanonical("/w==/w==".utf8) == .failure(.invalidSymbol(offset: 2)))
        #expect(Base64.decodeCanonical("/x==".utf8) == .failure(.nonZeroTrailingBits))
    }

    @Test func anyChunkBytesParseOrThrowWithoutCrashing() throws {
        var generator = SeededGenerator(seed: 0x5A4B)
        let valid = [UInt8](fromBase64: Self.chromiumValue)
        for _ in 0..<20_000 {
            var bytes = valid
            for _ in 0..<Int(generator.next() % 4) {
                bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
            }
            bytes = Array(bytes.prefix(Int(generator.next() % 40)))
            if let initiation = try? SCTPInitChunk(chunk: bytes) {
                #expect(initiation.initiateTag != 0)
                #expect(try SCTPInitChunk(chunk: initiation.chunk) == initiation)
            }
        }
    }
}

private extension Array where Element == UInt8 {
    /// Test vectors only: traps on anything but canonical base64.
    init(fromBase64 text: String) {
        guard case .success(let bytes) = Base64.decodeCanonical(text.utf8) else { preconditionFailure(text) }
        self = bytes
    }
}
