@testable import ParleyTransceiver
import ParleyWire
import Testing

/// The queue in front of a backend's WebSocket without a socket: its byte bound and what
/// gives way to it, and when a backend that stopped reading counts as unresponsive.
@Suite struct BackendSendQueueTests {
    static let start = Instant(nanoseconds: 2_000_000_000)
    /// One 20 ms frame of the backend protocol: a 12-byte header and 480 PCM16 samples.
    static let frameBytes = 972
    static let limits = BackendSendQueue<String>.Limits(maxBytes: 10 * frameBytes, stallTimeout: .seconds(5))

    @Test func theOldestAudioGivesWayAndEventsStay() {
        var queue = BackendSendQueue<String>(limits: Self.limits)
        #expect(queue.push("session.update", kind: .event, bytes: 200, now: Self.start).isEmpty)
        for frame in 0..<9 {
            #expect(queue.push("audio \(frame)", kind: .audio, bytes: Self.frameBytes, now: Self.start).isEmpty)
        }
        // 200 + 9 frames fit; the tenth frame needs one old frame's room.
        #expect(queue.push("audio 9", kind: .audio, bytes: Self.frameBytes, now: Self.start) == .init(audioFrames: 1))
        #expect(queue.queuedBytes <= Self.limits.maxBytes)
        var written: [String] = []
        while let message = queue.pop() { written.append(message) }
        #expect(written == ["session.update"] + (1...9).map { "audio \($0)" })
    }

    @Test func anEventThatFindsOnlyEventsIsDropped() {
        var queue = BackendSendQueue<String>(limits: .init(maxBytes: 1_000, stallTimeout: .seconds(5)))
        #expect(queue.push("a", kind: .event, bytes: 600, now: Self.start).isEmpty)
        #expect(queue.push("b", kind: .event, bytes: 600, now: Self.start) == .init(events: 1))
        #expect(queue.push("frame", kind: .audio, bytes: 600, now: Self.start) == .init(audioFrames: 1))
        #expect(queue.pop() == "a" && queue.pop() == nil)
    }

    @Test func aBackendIsUnresponsiveWhenNoWriteCompletesForTheStallTimeout() {
        var queue = BackendSendQueue<String>(limits: Self.limits)
        #expect(!queue.isStalled(now: Self.start + .seconds(60)))
        _ = queue.push("frame 0", kind: .audio, bytes: Self.frameBytes, now: Self.start)
        // A reading backend: every write completes within a frame.
        var now = Self.start
        for frame in 1...500 {
            now = now + .milliseconds(20)
            _ = queue.pop()
            queue.wrote(now: now)
            _ = queue.push("frame \(frame)", kind: .audio, bytes: Self.frameBytes, now: now)
            #expect(!queue.isStalled(now: now))
        }
        // The backend stops reading: the write in flight never completes while audio piles up.
        let stopped = now
        _ = queue.pop()
        for _ in 0..<300 {
            now = now + .milliseconds(20)
            _ = queue.push("frame", kind: .audio, bytes: Self.frameBytes, now: now)
            #expect(queue.isStalled(now: now) == (now - stopped >= .seconds(5)))
            #expect(queue.queuedBytes <= Self.limits.maxBytes)
        }
    }

    @Test func anIdleQueueNeverStallsAndAFinishedOneTakesNothingMore() {
        var queue = BackendSendQueue<String>(limits: Self.limits)
        _ = queue.push("a", kind: .event, bytes: 10, now: Self.start)
        _ = queue.pop()
        queue.wrote(now: Self.start + .milliseconds(1))
        #expect(!queue.isStalled(now: Self.start + .seconds(600)))
        queue.finish()
        _ = queue.push("b", kind: .event, bytes: 10, now: Self.start + .seconds(601))
        #expect(queue.isEmpty && queue.isFinished)
    }
}
