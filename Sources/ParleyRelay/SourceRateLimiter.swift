import ParleyWire

/// A token bucket: `rate` tokens a second, at most `burst` held.
struct TokenBucket {
    let rate: Double
    let burst: Double
    private(set) var tokens: Double
    private(set) var updated: Instant

    init(rate: Double, burst: Double, now: Instant) {
        self.rate = max(rate, 0)
        self.burst = max(burst, 1)
        tokens = self.burst
        updated = now
    }

    /// Takes one token; false when fewer than one is left.
    mutating func take(now: Instant) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Whether the bucket would be full at `now`.
    func isFull(at now: Instant) -> Bool {
        tokens + accrued(until: now) >= burst
    }

    private mutating func refill(now: Instant) {
        tokens = min(burst, tokens + accrued(until: now))
        updated = max(updated, now)
    }

    private func accrued(until now: Instant) -> Double {
        guard now > updated else { return 0 }
        return Double((now - updated).nanosecondsRounded) / 1e9 * rate
    }
}

/// A token bucket per source IP address, for new flows. Holds at most `capacity` addresses;
/// when that many are tracked, buckets that have refilled are forgotten to make room.
struct SourceRateLimiter {
    let rate: Double
    let burst: Double
    let capacity: Int
    private var buckets: [IPAddress: TokenBucket]
    private var lastPrune: Instant?

    init(rate: Double, burst: Double, capacity: Int) {
        self.rate = rate
        self.burst = burst
        self.capacity = max(capacity, 1)
        buckets = Dictionary(minimumCapacity: self.capacity)
    }

    var trackedSources: Int { buckets.count }

    /// Takes one token from `source`'s bucket; false when it is empty, or when no bucket can be
    /// made for a new source because `capacity` sources are all still limited.
    mutating func allow(_ source: IPAddress, now: Instant) -> Bool {
        if let index = buckets.index(forKey: source) {
            return buckets.values[index].take(now: now)
        }
        if buckets.count >= capacity {
            // Pruning walks every bucket: at most once a second, however hard the table is hit.
            if let lastPrune, now - lastPrune < .seconds(1) { return false }
            prune(now: now)
            guard buckets.count < capacity else { return false }
        }
        var bucket = TokenBucket(rate: rate, burst: burst, now: now)
        let allowed = bucket.take(now: now)
        buckets[source] = bucket
        return allowed
    }

    /// Forgets every source whose bucket has refilled: it would start full again anyway.
    mutating func prune(now: Instant) {
        lastPrune = now
        buckets = buckets.filter { !$0.value.isFull(at: now) }
    }
}
