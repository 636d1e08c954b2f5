@testable import ParleyLoadgen
import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

@Suite struct LoadgenTests {
    @Test func signalingURLsParseHostPortAndPath() throws {
        let url = try #require(SignalingURL("http://127.0.0.1:8080/v1/realtime/calls"))
        #expect(url.host == "127.0.0.1" && url.port == 8080 && url.path == "/v1/realtime/calls")
        let v6 = try #require(SignalingURL("http://[::1]:9/whip"))
        #expect(v6.host == "::1" && v6.port == 9 && v6.path == "/whip")
        #expect(SignalingURL("http://example")?.port == 80)
        for bad in ["https://a/b", "ftp://a", "http://:80/x", "http://a:0/", "http://a:70000/", "http://[::1/x", "http://[::1]x/"] {
            #expect(SignalingURL(bad) == nil, "\(bad)")
        }
    }

    @Test func toneCheckPassesItsOwnToneAndFailsAnother() {
        let own = ToneAudio.frequency(forCall: 3)
        let other = ToneAudio.frequency(forCall: 9)
        let samples = ToneAudio.samples(frequency: own, start: 0, count: ToneAudio.sampleRate)
        #expect(ToneCheck(samples: samples, frequency: own).passed)
        let wrong = ToneCheck(samples: samples, frequency: other)
        #expect(!wrong.passed)
        #expect(wrong.strongestOtherFrequency == own)
        #expect(!ToneCheck(samples: [Int16](repeating: 0, count: ToneAudio.sampleRate), frequency: own).passed)
        #expect(!ToneCheck(samples: Array(samples.prefix(100)), frequency: own).passed)
    }

    @Test func distributionsUseNearestRankPercentiles() throws {
        let values = (1...100).map(Double.init)
        let distribution = try #require(LoadReport.Distribution(values.shuffled()))
        #expect(distribution.count == 100)
        #expect(distribution.p50 == 50 && distribution.p95 == 95 && distribution.p99 == 99 && distribution.max == 100)
        #expect(LoadReport.Distribution([]) == nil)
        #expect(LoadReport.Distribution([7])?.p99 == 7)
    }
}

/// The caller's side of turn-taking with a voice agent, driven frame by frame with injected time.
@Suite struct TurnTakingTests {
    /// Sends frames 0..<count at 20 ms each, with `arrivals(frame)` agent packets arriving
    /// just after each; returns which frames were speech.
    static func run(_ turns: inout TurnTaking, frames count: UInt64, arrivals: (UInt64) -> Int) -> [Bool] {
        (0..<count).map { frame in
            let now = Instant(nanoseconds: Int64(frame) * 20_000_000)
            let speech = turns.willSend(frame: frame, now: now)
            for _ in 0..<arrivals(frame) { turns.audioReceived(now: now + .milliseconds(5)) }
            return speech
        }
    }

    @Test func patternsAndRangesParseFromTheCommandLine() throws {
        #expect(TurnPattern(argument: "1:3") == TurnPattern(speech: .seconds(1), pause: .seconds(3)))
        #expect(TurnPattern(argument: "0.6:2.5") == TurnPattern(speech: .milliseconds(600), pause: .milliseconds(2_500)))
        for bad in ["1", "1:", ":3", "0:3", "1:0.01", "a:b", "1:3:5", "-1:3", "inf:1"] {
            #expect(TurnPattern(argument: bad) == nil, "\(bad)")
        }
        #expect(SecondsRange(argument: "20-60") == SecondsRange(.seconds(20) ... .seconds(60)))
        #expect(SecondsRange(argument: "30") == SecondsRange(.seconds(30) ... .seconds(30)))
        for bad in ["60-20", "0-5", "-5", "5-", "a-b", "1-2-3"] {
            #expect(SecondsRange(argument: bad) == nil, "\(bad)")
        }
        var random = SeededGenerator(seed: 7)
        let range = try #require(SecondsRange(argument: "20-60"))
        let draws = (0..<200).map { _ in range.random(using: &random) }
        #expect(draws.allSatisfy { (.seconds(20) ... .seconds(60)).contains($0) })
        #expect(draws.contains { $0 < .seconds(25) } && draws.contains { $0 > .seconds(55) })
    }

    @Test func silenceLeadsInThenSpeechAndPausesAlternate() {
        var turns = TurnTaking(pattern: TurnPattern(speech: .milliseconds(200), pause: .milliseconds(100)))
        let speech = Self.run(&turns, frames: 25 + 30, arrivals: { _ in 0 })
        #expect(!speech[..<25].contains(true))
        let pattern = Array(repeating: true, count: 10) + Array(repeating: false, count: 5)
        #expect(Array(speech[25...]) == pattern + pattern)
        // The second pause has not ended: one turn taken, and no answer came.
        #expect(turns.turnsTaken == 1 && turns.turnsAnswered == 0)
    }

    @Test func aTurnIsAnsweredByHalfItsSpeechInItsPause() {
        // One second of speech (50 frames): 25 packets in the pause answer it, 24 do not.
        let pattern = TurnPattern(speech: .seconds(1), pause: .seconds(2))
        let lead = TurnTaking.leadInFrames
        let cycle: UInt64 = 150
        var turns = TurnTaking(pattern: pattern)
        #expect(turns.packetsForAnswer == 25)
        _ = Self.run(&turns, frames: lead + 3 * cycle + 1, arrivals: { frame in
            guard frame >= lead else { return 1 }
            let turn = (frame - lead) / cycle
            let position = (frame - lead) % cycle
            // From 30 frames into each pause, turn 0 hears 25 packets, turn 1 24, turn 2 70,
            // then one more arrives as the next turn's speech begins.
            switch turn {
            case 0: return (80..<105).contains(position) ? 1 : 0
            case 1: return (80..<104).contains(position) ? 1 : 0
            case 2: return position >= 80 ? 1 : 0
            default: return position < 10 ? 1 : 0
            }
        })
        #expect(turns.turnsTaken == 3)
        #expect(turns.turnsAnswered == 2)
        #expect(turns.answerPackets == 25 + 24 + 70)
        #expect(turns.packetsOutsidePauses == lead + 1)
        // Each answered pause's latency: 30 frames after the first silent frame, plus 5 ms.
        #expect(turns.answerLatencies == Array(repeating: .milliseconds(605), count: 3))
    }

    @Test func hangUpsRotateOverEveryWayToEndACall() {
        let styles = (0..<8).map(HangUpStyle.forCall)
        #expect(styles == [.delete, .bye, .delete, .vanish, .delete, .bye, .delete, .vanish])
    }

    /// SNAP (draft-hancke-tsvwg-snap-00): the offer carries our INIT unless `--no-snap`, and
    /// the answer's INIT is taken only when it did; the DTLS role comes from the answer.
    @Test(arguments: [true, false])
    func theOfferAnnouncesOurINITAndTheAnswerCompletesIt(snap: Bool) throws {
        let settings = CallSettings(
            certificate: try DTLSCertificate.generateSelfSigned(), audio: .idle, echoCheck: false, bindHost: "127.0.0.1",
            setupTimeout: .seconds(1), preEncoded: [:], preEncodedSilence: [], turns: nil, events: true, sped: false, snap: snap)
        let offered = try #require(LoadgenCall.offeredDataChannels(settings))
        #expect((offered.localInitiation != nil) == snap)

        // The server's side: it answers an offer that had `a=sctp-init` with its own.
        let offerParameters = SDPOfferParameters(
            iceUfrag: "cli1", icePassword: "clientPassword0123456789",
            fingerprint: DTLSFingerprintLine(algorithm: "sha-256", digest: Array(repeating: 7, count: 32)), sessionID: 1,
            audioSSRC: 2, cname: "loadgen", offerApplication: true, sctpInitiation: offered.localInitiation)
        var generator = SeededGenerator(seed: 3)
        let theirs = SCTPAssociation.Configuration(isDTLSClient: true).makeInitiation(using: &generator)
        var answerParameters = SDPAnswerParameters(
            iceUfrag: "srv1", icePassword: "serverPassword0123456789",
            fingerprint: DTLSFingerprintLine(algorithm: "sha-256", digest: Array(repeating: 9, count: 32)),
            candidates: [PeerAddress("192.0.2.1:3478")!], sessionID: 3, audioSSRC: 4, cname: "server",
            acceptApplication: true, sctpInitiation: theirs)
        let offer = try SDPOffer(parsing: SDPOfferBuilder.offer(with: offerParameters))
        let answer = try SDPAnswer(parsing: SDPAnswerBuilder.answer(to: offer, with: answerParameters))
        let answered = try #require(LoadgenCall.answeredDataChannels(offered: offered, answer: answer, dtlsRole: .server))
        #expect(!answered.isDTLSClient)
        #expect(answered.localInitiation == offered.localInitiation)
        #expect(answered.peerInitiation == (snap ? theirs : nil))

        answerParameters.acceptApplication = false
        let rejected = try SDPAnswer(parsing: SDPAnswerBuilder.answer(to: offer, with: answerParameters))
        #expect(LoadgenCall.answeredDataChannels(offered: offered, answer: rejected, dtlsRole: .client) == nil)
    }
}
