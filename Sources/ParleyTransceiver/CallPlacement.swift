import ParleyEndpoint
import Synchronization

/// Which shard each call lives on, and how many calls each shard carries: the signaling
/// side's ledger. It is touched when a call is placed, created or ended, never per packet.
final class CallPlacement: Sendable {
    private struct State {
        /// Calls per shard, those being set up included.
        var loads: [Int]
        /// Shards whose loop is behind (`ShardPressure`): they take no new calls.
        var underPressure: [Bool]
        var total = 0
        var shardOf: [SessionID: Int] = [:]
    }

    private let state: Mutex<State>
    /// Process-wide limit on calls (`--max-sessions`).
    let limit: Int

    init(shards: Int, limit: Int) {
        state = Mutex(State(loads: Array(repeating: 0, count: shards), underPressure: Array(repeating: false, count: shards)))
        self.limit = limit
    }

    /// Reserves a place for a new call on the least-loaded shard not under pressure (the
    /// lowest index among equals) and returns that shard; refuses beyond `limit` calls, and
    /// when every shard is under pressure.
    func reserve() throws(CallSetupError) -> Int {
        let placed = state.withLock { state -> Result<Int, CallSetupError> in
            guard state.total < limit else { return .failure(.capacity(limit: limit)) }
            // A shard with no calls is idle whatever its last verdict said.
            let open = state.loads.indices.filter { !state.underPressure[$0] || state.loads[$0] == 0 }
            guard let shard = open.min(by: { state.loads[$0] < state.loads[$1] }) else { return .failure(.overloaded) }
            state.loads[shard] += 1
            state.total += 1
            return .success(shard)
        }
        return try placed.get()
    }

    /// Shard `shard`'s loop fell behind, or caught up.
    func setPressure(_ underPressure: Bool, onShard shard: Int) {
        state.withLock { $0.underPressure[shard] = underPressure }
    }

    /// True when every shard is under pressure with calls on it: no new call can be taken.
    var isOverloaded: Bool {
        state.withLock { state in state.loads.indices.allSatisfy { state.underPressure[$0] && state.loads[$0] > 0 } }
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

    /// Calls in the map from call to shard (live calls, once created).
    var mappedCalls: Int {
        state.withLock { $0.shardOf.count }
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
