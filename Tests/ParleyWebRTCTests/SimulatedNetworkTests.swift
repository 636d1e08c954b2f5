import ParleyTestSupport
import ParleyWire
import Testing

/// Sends `count` numbered datagrams to `destination`, one every `interval`, on its own
/// deadlines, and records what it receives with the instant it arrived.
private final class PacedSender: SimulatedHost {
    let address: PeerAddress
    let destination: PeerAddress
    private let interval: Duration
    private let count: Int
    private var sent = 0
    private var next: Instant?
    private var outbox: [SimulatedTransmit] = []
    private(set) var sendTimes: [Instant] = []
    private(set) var received: [(number: Int, at: Instant)] = []
    private(set) var timeouts: [Instant] = []

    init(at address: PeerAddress, to destination: PeerAddress, count: Int, interval: Duration, start: Instant) {
        self.address = address
        self.destination = destination
        self.count = count
        self.interval = interval
        next = count > 0 ? start : nil
    }

    var addresses: [PeerAddress] { [address] }
    var receivedNumbers: [Int] { received.map(\.number) }

    func handle(_ payload: [UInt8], from source: PeerAddress, to destination: PeerAddress, now: Instant) {
        received.append((Int(payload[0]) << 16 | Int(payload[1]) << 8 | Int(payload[2]), now))
    }

    func handleTimeout(now: Instant) {
        timeouts.append(now)
        guard let due = next, due <= now else { return }
        outbox.append(SimulatedTransmit(
            source: address, destination: destination,
            payload: [UInt8(truncatingIfNeeded: sent >> 16), UInt8(truncatingIfNeeded: sent >> 8), UInt8(truncatingIfNeeded: sent)]))
        sendTimes.append(now)
        sent += 1
        next = sent < count ? due + interval : nil
    }

    func pollTransmit(now: Instant) -> SimulatedTransmit? {
        outbox.isEmpty ? nil : outbox.removeFirst()
    }

    func nextDeadline() -> Instant? {
        next
    }
}

@Suite struct SimulatedNetworkTests {
    static let a = PeerAddress("10.0.0.1:1000")!
    static let b = PeerAddress("10.0.0.2:2000")!
    static let c = PeerAddress("10.0.0.3:3000")!

    /// `count` datagrams from a to b over `conditions`, run to the end.
    private static func stream(_ conditions: LinkConditions, count: Int, interval: Duration = .milliseconds(5),
                               seed: UInt64 = 7) -> (network: SimulatedNetwork, sender: PacedSender, receiver: PacedSender) {
        let network = SimulatedNetwork(seed: seed, defaultConditions: conditions)
        let sender = PacedSender(at: a, to: b, count: count, interval: interval, start: network.now)
        let receiver = PacedSender(at: b, to: a, count: 0, interval: interval, start: network.now)
        network.add(sender)
        network.add(receiver)
        network.advance(by: interval * count + .seconds(1))
        return (network, sender, receiver)
    }

    /// Lengths of the runs of consecutive numbers missing from `received` (0..<count).
    private static func lossRuns(_ received: [Int], count: Int) -> [Int] {
        let arrived = Set(received)
        var runs: [Int] = []
        var current = 0
        for number in 0..<count {
            if arrived.contains(number) {
                if current > 0 { runs.append(current) }
                current = 0
            } else {
                current += 1
            }
        }
        if current > 0 { runs.append(current) }
        return runs
    }

    @Test func perfectLinkDeliversEverythingInOrderAtOnce() {
        let (network, sender, receiver) = Self.stream(.perfect, count: 100)
        #expect(receiver.receivedNumbers == Array(0..<100))
        #expect(zip(sender.sendTimes, receiver.received.map(\.at)).allSatisfy { $0 == $1 })
        #expect(network.totals == { var s = LinkStatistics(); s.sent = 100; s.delivered = 100; return s }())
    }

    @Test func delayAndJitterStayWithinTheirBoundsInVirtualTime() {
        let conditions = LinkConditions(delay: .milliseconds(30), jitter: .milliseconds(10))
        let (network, sender, receiver) = Self.stream(conditions, count: 1_000)
        #expect(receiver.received.count == 1_000)
        var delays: [Duration] = []
        for (number, at) in receiver.received { delays.append(at - sender.sendTimes[number]) }
        #expect(delays.allSatisfy { $0 >= .milliseconds(30) && $0 <= .milliseconds(40) })
        #expect(delays.min()! < .milliseconds(31) && delays.max()! > .milliseconds(39))
        // 1,000 datagrams 5 ms apart plus the second of slack: only virtual time passed.
        #expect(network.elapsed == .milliseconds(5 * 1_000) + .seconds(1))
    }

    @Test func randomLossStaysWithinBoundsForASeed() {
        let (network, _, receiver) = Self.stream(LinkConditions(loss: .random(0.1)), count: 10_000)
        let statistics = network.statistics(from: Self.a, to: Self.b)
        #expect(statistics.sent == 10_000)
        #expect(statistics.lost + statistics.delivered == 10_000)
        #expect(statistics.lost > 900 && statistics.lost < 1_100, "lost \(statistics.lost)")
        #expect(receiver.received.count == statistics.delivered)
        // Independent losses: runs of two or more are rare (about one loss in ten is followed by another).
        let runs = Self.lossRuns(receiver.receivedNumbers, count: 10_000)
        #expect(Double(runs.reduce(0, +)) / Double(runs.count) < 1.25)
    }

    @Test func theSameSeedReplaysAndAnotherDiffers() {
        let conditions = LinkConditions(delay: .milliseconds(10), jitter: .milliseconds(20), loss: .random(0.2), duplicateRate: 0.1)
        let first = Self.stream(conditions, count: 500, seed: 3).receiver.receivedNumbers
        let again = Self.stream(conditions, count: 500, seed: 3).receiver.receivedNumbers
        let other = Self.stream(conditions, count: 500, seed: 4).receiver.receivedNumbers
        #expect(first == again)
        #expect(first != other)
    }

    @Test func burstyLossComesInBursts() {
        let channel = GilbertElliott(averageLoss: 0.1, meanBurstLength: 4)
        let (network, _, receiver) = Self.stream(LinkConditions(loss: .bursty(channel)), count: 20_000)
        let lost = network.statistics(from: Self.a, to: Self.b).lost
        #expect(lost > 1_600 && lost < 2_400, "lost \(lost)")
        let runs = Self.lossRuns(receiver.receivedNumbers, count: 20_000)
        let meanRun = Double(runs.reduce(0, +)) / Double(runs.count)
        #expect(meanRun > 3 && meanRun < 5, "mean burst \(meanRun)")
        #expect(runs.max()! >= 10)
    }

    @Test func reorderingReorders() {
        let conditions = LinkConditions(delay: .milliseconds(10), reorderRate: 0.1, reorderDelay: .milliseconds(20))
        let (network, _, receiver) = Self.stream(conditions, count: 1_000)
        let numbers = receiver.receivedNumbers
        #expect(numbers.sorted() == Array(0..<1_000))
        let overtaken = zip(numbers, numbers.dropFirst()).filter { $0 > $1 }.count
        #expect(overtaken > 50 && overtaken < 150, "overtaken \(overtaken)")
        #expect(network.totals.lost == 0)

        let inOrder = Self.stream(LinkConditions(delay: .milliseconds(10)), count: 1_000).receiver.receivedNumbers
        #expect(inOrder == Array(0..<1_000))
    }

    @Test func duplicationDuplicates() {
        let (network, _, receiver) = Self.stream(LinkConditions(delay: .milliseconds(10), duplicateRate: 0.1), count: 5_000)
        let statistics = network.statistics(from: Self.a, to: Self.b)
        #expect(statistics.duplicated > 400 && statistics.duplicated < 600, "duplicated \(statistics.duplicated)")
        #expect(statistics.delivered == 5_000 + statistics.duplicated)
        #expect(receiver.received.count == statistics.delivered)
        #expect(Set(receiver.receivedNumbers).count == 5_000)
    }

    @Test func manyHostsOnTheirOwnAddressesAndLinks() {
        let network = SimulatedNetwork(seed: 1)
        let toB = PacedSender(at: Self.a, to: Self.b, count: 10, interval: .milliseconds(20), start: network.now)
        let toA = PacedSender(at: Self.b, to: Self.a, count: 5, interval: .milliseconds(20), start: network.now + .seconds(3))
        let toNowhere = PacedSender(at: Self.c, to: PeerAddress("10.9.9.9:9")!, count: 3, interval: .milliseconds(1), start: network.now)
        network.add(toB)
        network.add(toA)
        network.add(toNowhere)
        network.setConditions(LinkConditions(delay: .milliseconds(50)), from: Self.a, to: Self.b)
        network.setConditions(LinkConditions(loss: .random(1)), from: Self.b, to: Self.a)
        let start = network.now
        network.run(until: { toB.received.count + toA.received.count == 10 }, limit: .seconds(10))
        #expect(toA.receivedNumbers == Array(0..<10))
        #expect(toA.received.first?.at == start + .milliseconds(50))
        #expect(toB.received.isEmpty)
        #expect(network.undeliverable == 3)
        network.advance(by: .seconds(5))
        // Deadlines alone moved the clock: b woke exactly at its first send, 3 s in.
        #expect(toA.timeouts.first == start + .seconds(3))
        #expect(network.statistics(from: Self.b, to: Self.a).lost == 5)
        #expect(network.now == start + .milliseconds(230) + .seconds(5))
    }
}
