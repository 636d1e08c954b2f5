import ParleyWire
import Synchronization

/// The flow store of a relay run without Redis: a process-local map with expiry, so it only
/// helps flows whose relay worker changed, not a restarted process.
public final class MemoryFlowStore: FlowStore {
    private struct Entry {
        var transceiver: PeerAddress
        var expiry: ContinuousClock.Instant
    }

    private struct State {
        var entries: [PeerAddress: Entry] = [:]
        var recordsSinceSweep = 0
    }

    /// Expired entries are swept after this many records, so memory tracks live flows.
    private static let sweepInterval = 1_024
    private let state = Mutex(State())

    public init() {}

    public func record(client: PeerAddress, transceiver: PeerAddress, ttl: Duration) async throws {
        let now = ContinuousClock.now
        state.withLock { state in
            state.entries[client] = Entry(transceiver: transceiver, expiry: now + ttl)
            state.recordsSinceSweep += 1
            if state.recordsSinceSweep >= Self.sweepInterval {
                state.recordsSinceSweep = 0
                state.entries = state.entries.filter { $0.value.expiry > now }
            }
        }
    }

    public func lookup(client: PeerAddress) async throws -> PeerAddress? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let entry = state.entries[client] else { return nil }
            guard entry.expiry > now else {
                state.entries[client] = nil
                return nil
            }
            return entry.transceiver
        }
    }

    /// Entries held, expired ones not yet swept included.
    public var count: Int {
        state.withLock { $0.entries.count }
    }
}
