@testable import ParleyRelay
import ParleyTestSupport
import ParleyWire
import Testing

@Suite("Flow table")
struct FlowTableTests {
    let transceiver = PeerAddress("10.0.0.5:4000")!

    func client(_ port: UInt16) -> PeerAddress {
        PeerAddress(ip: .v4(0xC000_0201), port: port)
    }

    func flow(_ port: UInt16, at milliseconds: Int64 = 0, recorded: Bool = false) -> RelayFlow {
        RelayFlow(client: client(port), nextHop: transceiver, lastActivity: at(milliseconds),
                  recordedAt: recorded ? at(milliseconds) : nil)
    }

    @Test func insertsAndLooksUpByClientAddress() throws {
        var table = FlowTable(capacity: 4, idleTimeout: .seconds(30))
        #expect(table.index(of: client(1)) == nil)
        let inserted = table.insert(flow(1))
        let index = try #require(inserted)
        #expect(table.index(of: client(1)) == index)
        #expect(table[index]?.nextHop == transceiver)
        #expect(table.index(of: client(2)) == nil)
        #expect(table.index(of: PeerAddress(ip: .v4(0xC000_0202), port: 1)) == nil)
        #expect(table.count == 1)
    }

    @Test func insertingAKnownClientReplacesItsFlow() throws {
        var table = FlowTable(capacity: 1, idleTimeout: .seconds(30))
        let other = PeerAddress("10.0.0.6:4000")!
        let first = table.insert(flow(1))
        let second = table.insert(RelayFlow(client: client(1), nextHop: other, lastActivity: at(1)))
        #expect(first != nil && first == second)
        #expect(table[try #require(second)]?.nextHop == other)
        #expect(table.count == 1)
    }

    @Test func capRefusesNewClientsUntilOneIsRemoved() {
        var table = FlowTable(capacity: 2, idleTimeout: .seconds(30))
        let accepted = [table.insert(flow(1)), table.insert(flow(2)), table.insert(flow(3))].map { $0 != nil }
        #expect(accepted == [true, true, false])
        #expect(table.isFull)
        let removed = [table.remove(client: client(1)), table.remove(client: client(1))]
        #expect(removed == [true, false])
        let reused = table.insert(flow(3))
        #expect(reused != nil)
        #expect(table.index(of: client(3)) != nil)
        #expect(table.count == 2)
    }

    @Test func sweepExpiresOnlyIdleFlowsWithinItsBudget() throws {
        var table = FlowTable(capacity: 8, idleTimeout: .milliseconds(100))
        for port in 1...4 {
            _ = table.insert(flow(UInt16(port)))
        }
        let busy = try #require(table.index(of: client(2)))
        table.touch(busy, now: at(90))
        var removed = table.sweep(now: at(99), budget: 8)
        #expect(removed == 0)
        // A budget of two slots covers the first two flows only.
        removed = table.sweep(now: at(150), budget: 2)
        #expect(removed == 1)
        #expect(table.index(of: client(1)) == nil)
        #expect(table.index(of: client(2)) != nil)
        removed = table.sweep(now: at(150), budget: 6)
        #expect(removed == 2)
        #expect(table.count == 1)
        removed = table.sweep(now: at(190), budget: 8)
        #expect(removed == 1)
        #expect(table.count == 0)
        #expect(!table.isFull)
    }

    @Test func expiredSlotsAreReused() {
        var table = FlowTable(capacity: 1, idleTimeout: .milliseconds(10))
        _ = table.insert(flow(1))
        let removed = table.sweep(now: at(20), budget: 1)
        let reused = table.insert(flow(2, at: 20))
        #expect(removed == 1 && reused != nil)
    }

    @Test func recordedFlowsComeDueForRewriting() throws {
        var table = FlowTable(capacity: 2, idleTimeout: .seconds(30))
        let recorded = try #require(table.insert(flow(1, recorded: true)) as FlowTable.Index?)
        let unrecorded = try #require(table.insert(flow(2)) as FlowTable.Index?)
        var due: [Bool] = []
        for milliseconds in [500, 1_000, 1_500] as [Int64] {
            due.append(table.takeRecordDue(recorded, now: at(milliseconds), interval: .seconds(1)))
        }
        due.append(table.takeRecordDue(unrecorded, now: at(5_000), interval: .seconds(1)))
        #expect(due == [false, true, false, false])
    }

    @Test func randomOperationsAgreeWithADictionary() {
        var generator = SeededGenerator(seed: 42)
        var table = FlowTable(capacity: 64, idleTimeout: .milliseconds(50))
        var model: [PeerAddress: Int64] = [:]
        var now: Int64 = 0
        for _ in 0..<5_000 {
            now += Int64.random(in: 0...3, using: &generator)
            let address = client(UInt16.random(in: 1...100, using: &generator))
            switch Int.random(in: 0..<4, using: &generator) {
            case 0:
                if table.insert(RelayFlow(client: address, nextHop: transceiver, lastActivity: at(now))) != nil {
                    model[address] = now
                } else {
                    #expect(model.count == 64 && model[address] == nil)
                }
            case 1:
                let removed = table.remove(client: address)
                #expect(removed == (model.removeValue(forKey: address) != nil))
            case 2:
                if let index = table.index(of: address) {
                    table.touch(index, now: at(now))
                    model[address] = now
                }
            default:
                let removed = table.sweep(now: at(now), budget: 64)
                let expired = model.filter { now - $0.value >= 50 }.keys
                #expect(removed == expired.count)
                for key in expired { model.removeValue(forKey: key) }
            }
            #expect(table.count == model.count)
        }
        for (address, _) in model {
            #expect(table.index(of: address) != nil)
        }
    }
}

@Suite("Rate limits")
struct RateLimitTests {
    @Test func aSourceGetsItsBurstThenItsRate() {
        var limiter = SourceRateLimiter(rate: 10, burst: 3, capacity: 16)
        let source = IPAddress("192.0.2.1")!
        var allowed = (0..<5).map { _ in limiter.allow(source, now: at(0)) }
        #expect(allowed == [true, true, true, false, false])
        allowed = [at(50), at(150), at(150)].map { limiter.allow(source, now: $0) }
        #expect(allowed == [false, true, false])
        let other = limiter.allow(IPAddress("192.0.2.2")!, now: at(150))
        #expect(other)
    }

    @Test func aFullTableForgetsRefilledSourcesAndRefusesWhileAllAreLimited() {
        var limiter = SourceRateLimiter(rate: 1, burst: 1, capacity: 2)
        let allowed = [
            limiter.allow(IPAddress("192.0.2.1")!, now: at(0)),
            limiter.allow(IPAddress("192.0.2.2")!, now: at(0)),
            limiter.allow(IPAddress("192.0.2.3")!, now: at(500)),
            // Two seconds on, both buckets are full again and can be forgotten.
            limiter.allow(IPAddress("192.0.2.3")!, now: at(2_000)),
        ]
        #expect(allowed == [true, true, false, true])
        #expect(limiter.trackedSources == 1)
    }

    @Test func tokenBucketRefillsUpToItsBurst() {
        var bucket = TokenBucket(rate: 2, burst: 2, now: at(0))
        var taken = (0..<3).map { _ in bucket.take(now: at(0)) }
        #expect(taken == [true, true, false])
        #expect(bucket.isFull(at: at(10_000)))
        taken = (0..<3).map { _ in bucket.take(now: at(10_000)) }
        #expect(taken == [true, true, false])
    }
}

func at(_ milliseconds: Int64) -> Instant {
    Instant(nanoseconds: milliseconds * 1_000_000)
}
