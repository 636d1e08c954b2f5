@testable import ParleyLoadgen
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
