import ParleyWire

/// Whether a shard's event loop keeps up. Every call's audio is paced by the loop's timers (a
/// frame each 20 ms) and read from its socket; a loop with more work than its thread can do
/// degrades every call on it together. Sans-IO: the shard reports each timer run (when it was
/// due, when it ran) and, once per `window`, how long its thread has run or waited in the run
/// queue to run; this says whether the shard is under pressure.
///
/// Two signs, judged once per window: the thread ran or waited to run for at least
/// `maxUtilisation` of the window (a loop that never idles reads its socket late: with 60
/// full-voice calls on one debug-build core the timers still ran on time while 12 % of the
/// caller's audio reached the jitter buffer too late; and a loop that shares its core with
/// another process waits where it would run: counting only its CPU time, it looked idle at
/// 0.58 while 69 % of the callers' audio was lost), or at least `lateShare` of the timer runs were more than
/// `lateness` late (the thread does not get the CPU it needs, e.g. on a crowded node). One
/// late timer, or one busy moment, does not count. A shard under pressure takes no new calls
/// until a window passes without.
public struct ShardPressure {
    public struct Limits: Sendable, Equatable {
        /// How late a timer may run before it counts as late.
        var lateness: Duration
        /// The share of late timer runs in a window that means pressure.
        var lateShare: Double = 0.1
        /// The share of a window the loop's thread may spend on the CPU or waiting for it.
        var maxUtilisation: Double
        var window: Duration = .seconds(1)

        public init(lateness: Duration, lateShare: Double = 0.1, maxUtilisation: Double, window: Duration = .seconds(1)) {
            self.lateness = lateness
            self.lateShare = lateShare
            self.maxUtilisation = maxUtilisation
            self.window = window
        }
    }

    let limits: Limits
    /// When the current window ends; the shard reads its thread's scheduler times only then.
    private(set) var windowEnds: Instant
    private var windowStart: Instant
    private var demandAtWindowStart: Duration?
    private var runs = 0
    private var lateRuns = 0
    /// The last whole window's share of late timer runs, and the share of it the thread ran
    /// or waited to run.
    private(set) var lastLateShare = 0.0
    private(set) var lastUtilisation = 0.0
    private(set) var isUnderPressure = false

    init(limits: Limits, now: Instant) {
        self.limits = limits
        windowStart = now
        windowEnds = now + limits.window
    }

    /// A timer due at `due` ran at `now`.
    mutating func timerRan(due: Instant, now: Instant) {
        runs += 1
        if now - due > limits.lateness { lateRuns += 1 }
    }

    /// Closes the window at `now` (at or after `windowEnds`), the loop's thread having run or
    /// waited to run for `threadDemand` in all (a running total); makes the verdict again.
    mutating func closeWindow(now: Instant, threadDemand: Duration) {
        let wall = now - windowStart
        lastLateShare = runs == 0 ? 0 : Double(lateRuns) / Double(runs)
        if let start = demandAtWindowStart, wall > .zero {
            lastUtilisation = (threadDemand - start) / wall
        }
        isUnderPressure = lastLateShare >= limits.lateShare || lastUtilisation >= limits.maxUtilisation
        windowStart = now
        windowEnds = now + limits.window
        demandAtWindowStart = threadDemand
        runs = 0
        lateRuns = 0
    }
}
