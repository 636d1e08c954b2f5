import ParleyWire

/// How one direction of a simulated path treats the datagrams sent over it.
///
/// Each datagram is first lost or not (`loss`), then may be duplicated (`duplicateRate`, the
/// copy getting its own delay), then delivered after `delay` plus a uniform share of `jitter`,
/// plus `reorderDelay` for the share `reorderRate` of datagrams held back. Jitter larger than
/// the spacing between datagrams reorders them as well, as on a real path.
public struct LinkConditions: Sendable {
    public var delay: Duration
    /// The most extra delay any one datagram gets, drawn uniformly from `0...jitter`.
    public var jitter: Duration
    public var loss: LossModel
    /// The share of datagrams held back by `reorderDelay`, so later ones overtake them.
    public var reorderRate: Double
    public var reorderDelay: Duration
    /// The share of datagrams delivered twice.
    public var duplicateRate: Double

    public init(
        delay: Duration = .zero, jitter: Duration = .zero, loss: LossModel = .none,
        reorderRate: Double = 0, reorderDelay: Duration = .milliseconds(20), duplicateRate: Double = 0
    ) {
        self.delay = delay
        self.jitter = jitter
        self.loss = loss
        self.reorderRate = reorderRate
        self.reorderDelay = reorderDelay
        self.duplicateRate = duplicateRate
    }

    /// Every datagram arrives at once, in order, exactly once.
    public static let perfect = LinkConditions()
}

/// Which datagrams a link loses.
public enum LossModel: Sendable {
    case none
    /// Each datagram is lost independently with this probability.
    case random(Double)
    /// Losses come in bursts.
    case bursty(GilbertElliott)
}

/// The Gilbert–Elliott channel: a two-state Markov chain, stepped once per datagram, that
/// loses datagrams with one probability in its good state and another in its bad state.
public struct GilbertElliott: Sendable {
    public var goodToBad: Double
    public var badToGood: Double
    public var lossInGood: Double
    public var lossInBad: Double

    public init(goodToBad: Double, badToGood: Double, lossInGood: Double = 0, lossInBad: Double = 1) {
        self.goodToBad = goodToBad
        self.badToGood = badToGood
        self.lossInGood = lossInGood
        self.lossInBad = lossInBad
    }

    /// Loses every datagram in the bad state and none in the good one, with the long-run
    /// `averageLoss` and bursts of `meanBurstLength` datagrams on average: the bad state is
    /// left with probability 1 / `meanBurstLength`, and entered at the rate that makes its
    /// stationary share `averageLoss`.
    public init(averageLoss: Double, meanBurstLength: Double) {
        let badToGood = 1 / max(meanBurstLength, 1)
        self.init(goodToBad: averageLoss * badToGood / (1 - averageLoss), badToGood: badToGood)
    }
}

/// One direction between two addresses: its conditions, its own seeded generator and the
/// state of its loss model.
struct SimulatedLink {
    var conditions: LinkConditions
    var statistics = LinkStatistics()
    private var generator: SeededGenerator
    private var inBadState = false

    init(conditions: LinkConditions, seed: UInt64) {
        self.conditions = conditions
        generator = SeededGenerator(seed: seed)
    }

    /// The delays after which the datagram just sent arrives: none when it is lost, two when
    /// it is duplicated.
    mutating func delaysForNextDatagram() -> [Duration] {
        guard !isLost() else { return [] }
        var delays = [delay()]
        if conditions.duplicateRate > 0, chance(conditions.duplicateRate) {
            delays.append(delay())
        }
        return delays
    }

    private mutating func isLost() -> Bool {
        switch conditions.loss {
        case .none:
            return false
        case .random(let rate):
            return chance(rate)
        case .bursty(let channel):
            inBadState = inBadState ? !chance(channel.badToGood) : chance(channel.goodToBad)
            return chance(inBadState ? channel.lossInBad : channel.lossInGood)
        }
    }

    private mutating func delay() -> Duration {
        var delay = conditions.delay
        if conditions.jitter > .zero {
            let span = conditions.jitter.nanosecondsRounded
            delay += .nanoseconds(Int64.random(in: 0...span, using: &generator))
        }
        if conditions.reorderRate > 0, chance(conditions.reorderRate) {
            delay += conditions.reorderDelay
        }
        return delay
    }

    private mutating func chance(_ probability: Double) -> Bool {
        Double.random(in: 0..<1, using: &generator) < probability
    }
}

/// What happened to the datagrams sent one way (or over the whole network).
public struct LinkStatistics: Sendable, Equatable {
    public var sent = 0
    /// Lost by the link's loss model or dropped by the network's `drop` rule.
    public var lost = 0
    /// Extra copies made.
    public var duplicated = 0
    /// Handed to a host, copies included.
    public var delivered = 0

    public init() {}

    static func += (lhs: inout LinkStatistics, rhs: LinkStatistics) {
        lhs.sent += rhs.sent
        lhs.lost += rhs.lost
        lhs.duplicated += rhs.duplicated
        lhs.delivered += rhs.delivered
    }
}
