import ParleyEndpoint
import Synchronization

/// Which shard each call lives on, and how many calls each shard carries: the signaling
/// side's ledger. It is touched when a call is placed, created or ended, never per packet.
final class CallPlacement: Sendable {
    private struct State {
        /// Calls per shard, those being set up included.
        var loads: [Int]
        var total = 0
        var shardOf: [SessionID: Int] = [:]
    }

    private let state: Mutex<State>
    /// Process-wide limit on calls (`--max-sessions`).
    let limit: Int

    init(shards: Int, limit: Int) {
        state = Mutex(State(loads: Array(repeating: 0, count: shards)))
        self.limit = limit
    }

    /// Reserves a place for a new call on the least-loaded shard (the lowest index among
    /// equals) and returns that shard; refuses beyond `limit` calls.
    func reserve() throws(CallSetupError) -> Int {
        let shard = state.withLock { state -> Int? in
            guard state.total < limit else { return nil }
            let shard = state.loads.indices.min { state.loads[$0] < state.loads[$1] } ?? 0
            state.loads[shard] += 1
            state.total += 1
            return shard
        }
        guard let shard else { throw .capacity(limit: limit) }
        return shard
    }

    /// A reserved place whose call could not be created.
    func release(shard: Int) {
        state.withLock { state in
            state.loads[shard] -= 1
            state.total -= 1
        }
    }

    func placed(_ id: SessionID, onShard shard: Int) {
        state.withLock { $0.shardOf[id] = shard }
    }

    func ended(_ id: SessionID, onShard shard: Int) {
        state.withLock { state in
            state.shardOf[id] = nil
            state.loads[shard] -= 1
            state.total -= 1
        }
    }

    /// The shard a live call is on.
    func shard(of id: SessionID) -> Int? {
        state.withLock { $0.shardOf[id] }
    }

    /// Calls live or being set up, over all shards.
    var total: Int {
        state.withLock { $0.total }
    }

    /// Calls per shard.
    var loads: [Int] {
        state.withLock { $0.loads }
    }
}
