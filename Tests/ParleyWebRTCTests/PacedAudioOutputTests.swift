import ParleyWebRTC
import ParleyWire
import Testing

@Suite struct PacedAudioOutputTests {
    let start = Instant(nanoseconds: 5_000_000_000)
    let frame = [Int16](repeating: 1, count: 480)

    /// Polls every millisecond from `start` for `duration`, collecting frames with their send times.
    func run(_ output: inout PacedAudioOutput, from: Instant, for duration: Duration) -> [(Instant, PacedAudioOutput.Frame)] {
        var sent: [(Instant, PacedAudioOutput.Frame)] = []
        var now = from
        while now < from + duration {
            while let frame = output.poll(now: now) { sent.append((now, frame)) }
            now = now + .milliseconds(1)
        }
        return sent
    }

    @Test func framesQueuedAtOnceLeaveOneEvery20msWithContinuousTimestamps() {
        var output = PacedAudioOutput()
        for _ in 0..<50 { output.enqueue(frame, tag: "resp_1", now: start) }
        let sent = run(&output, from: start, for: .seconds(2))
        #expect(sent.count == 50)
        #expect(sent.map { $0.0 - start } == (0..<50).map { Duration.milliseconds(20 * $0) })
        #expect(sent.map(\.1.mediaTime) == (0..<50).map { UInt32($0) * 960 })
        #expect(sent.map(\.1.marker) == [true] + Array(repeating: false, count: 49))
        #expect(sent.allSatisfy { $0.1.tag == "resp_1" })
        #expect(!output.isPlaying)
    }

    @Test func afterAPauseTheTimestampJumpsByTheElapsedTimeWithTheMarker() {
        var output = PacedAudioOutput()
        output.enqueue(frame, now: start)
        output.enqueue(frame, now: start)
        var sent = run(&output, from: start, for: .milliseconds(100))
        output.enqueue(frame, now: start + .seconds(1))
        sent += run(&output, from: start + .seconds(1), for: .milliseconds(100))
        #expect(sent.map(\.1.mediaTime) == [0, 960, 48_000])
        #expect(sent.map(\.1.marker) == [true, false, true])
    }

    @Test func clearDropsEverythingQueuedAtOnce() {
        var output = PacedAudioOutput()
        for _ in 0..<10 { output.enqueue(frame, now: start) }
        _ = run(&output, from: start, for: .milliseconds(30))
        #expect(output.queuedFrames == 8)
        #expect(output.clear() == 8)
        #expect(run(&output, from: start + .milliseconds(30), for: .milliseconds(200)).isEmpty)
        #expect(output.framesPlayed == 2)
    }

    @Test func beyondCapacityTheOldestFramesAreDroppedAndCounted() {
        var output = PacedAudioOutput(capacity: 5)
        for index in 0..<8 { output.enqueue([Int16](repeating: Int16(index), count: 480), now: start) }
        #expect(output.framesDropped == 3)
        let sent = run(&output, from: start, for: .milliseconds(200))
        #expect(sent.map { $0.1.samples[0] } == [3, 4, 5, 6, 7])
    }

    @Test func aStalledCallerRestartsTheCadenceInsteadOfBursting() {
        var output = PacedAudioOutput()
        for _ in 0..<10 { output.enqueue(frame, now: start) }
        _ = output.poll(now: start)
        // The runtime comes back 500 ms late: one frame now, then the 20 ms cadence again.
        let late = start + .milliseconds(500)
        #expect(output.poll(now: late) != nil)
        #expect(output.poll(now: late) == nil)
        #expect(output.nextDeadline() == late + .milliseconds(20))
    }
}
