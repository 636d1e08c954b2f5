import ParleyEndpoint
@testable import ParleyTransceiver
import ParleyWire
import Testing

/// Overload control's two halves without a loop: the verdict from timer lateness, and the
/// placement ledger that stops giving calls to shards under pressure.
@Suite struct ShardPressureTests {
    static let start = Instant(nanoseconds: 1_000_000_000)
    static let limits = ShardPressure.Limits(lateness: .milliseconds(10), maxUtilisation: 0.85)

    /// A second of 20 ms timers from `from`, every `lateEvery`-th one `late` late, the thread
    /// on the CPU for `busy` of it; closes the window. Returns the time after it.
    static func second(_ pressure: inout ShardPressure, from: Instant, cpu: inout Duration, busy: Double,
                       late: Duration = .zero, lateEvery: Int = 1) -> Instant {
        var now = from
        for index in 0..<50 {
            pressure.timerRan(due: now, now: now + (index % lateEvery == 0 ? late : .microseconds(200)))
            now = now + .milliseconds(20)
        }
        cpu = cpu + .milliseconds(Int64(busy * 1_000))
        pressure.closeWindow(now: now, threadDemand: cpu)
        return now
    }

    @Test func aShardIsUnderPressureWhenItsLoopNeverIdlesOrATenthOfItsTimersRunLate() {
        var pressure = ShardPressure(limits: Self.limits, now: Self.start)
        var cpu = Duration.seconds(3)
        var now = Self.start
        #expect(pressure.windowEnds == Self.start + .seconds(1))
        // The first window only starts the CPU count; then half busy, one timer in 25 30 ms
        // late (a scheduler hiccup): no pressure.
        now = Self.second(&pressure, from: now, cpu: &cpu, busy: 0.5)
        now = Self.second(&pressure, from: now, cpu: &cpu, busy: 0.5, late: .milliseconds(30), lateEvery: 25)
        #expect(!pressure.isUnderPressure && pressure.lastLateShare == 0.04 && pressure.lastUtilisation == 0.5)
        // A loop that never idles, its timers on time: pressure.
        now = Self.second(&pressure, from: now, cpu: &cpu, busy: 0.95)
        #expect(pressure.isUnderPressure && pressure.lastLateShare == 0)
        // Half busy again: cleared at the next window.
        now = Self.second(&pressure, from: now, cpu: &cpu, busy: 0.5)
        #expect(!pressure.isUnderPressure)
        // A thread that does not get the CPU: little utilisation, every other timer 15 ms late.
        now = Self.second(&pressure, from: now, cpu: &cpu, busy: 0.3, late: .milliseconds(15), lateEvery: 2)
        #expect(pressure.isUnderPressure && pressure.lastLateShare == 0.5)
    }

    @Test func newCallsAvoidShardsUnderPressureAndAreRefusedWhenAllAre() throws {
        let placement = CallPlacement(shards: 2, limit: 100)
        #expect(try placement.reserve() == 0)
        placement.setPressure(true, onShard: 0)
        #expect(try placement.reserve() == 1)
        #expect(try placement.reserve() == 1)  // the loaded shard still, not the one behind
        #expect(!placement.isOverloaded)
        placement.setPressure(true, onShard: 1)
        #expect(placement.isOverloaded)
        #expect(throws: CallSetupError.self) { try placement.reserve() }
        placement.setPressure(false, onShard: 0)
        #expect(try placement.reserve() == 0)
        #expect(placement.loads == [2, 2])
        // A shard whose calls all ended is idle, whatever its last verdict.
        let idle = CallPlacement(shards: 1, limit: 100)
        idle.setPressure(true, onShard: 0)
        #expect(!idle.isOverloaded)
        #expect(try idle.reserve() == 0)
    }
}
