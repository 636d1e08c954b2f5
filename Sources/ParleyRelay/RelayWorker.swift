import CParleyLinux
import Foundation
import ParleyRouting
import ParleyWire
import Synchronization

/// What the rest of the process shares with one worker thread: its sockets, its published
/// counters, an inbox for flows restored from the flow store, and the stop flag.
final class RelayWorker: Sendable {
    let index: Int
    let publicSocket: UDPSocket
    let internalSocket: UDPSocket
    let backboneSocket: UDPSocket?
    let counters = AtomicCounterArray(count: RelayCounter.count)
    private let restored = Mutex<[RelayFlow]>([])
    private let hasRestored = Atomic<Bool>(false)
    private let replacementKeyring = Mutex<RoutingKeyring?>(nil)
    private let hasReplacementKeyring = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private let exit = ExitLatch()

    init(index: Int, publicSocket: UDPSocket, internalSocket: UDPSocket, backboneSocket: UDPSocket?) {
        self.index = index
        self.publicSocket = publicSocket
        self.internalSocket = internalSocket
        self.backboneSocket = backboneSocket
    }

    /// Starts the worker's thread, pinned to `cpu` when given.
    func start(cpu: Int32?, configuration: RelayConfiguration, keyring: RoutingKeyring, store: FlowStoreBridge?) {
        let thread = Thread { [self] in
            if let cpu {
                _ = parley_pin_current_thread(cpu)
            }
            // Buffers are allocated on the worker's own thread, so they sit near its core.
            var loop = RelayWorkerLoop(worker: self, configuration: configuration, keyring: keyring, store: store)
            loop.run()
            exit.open()
        }
        thread.name = "parley-relay-\(index)"
        started.store(true, ordering: .relaxed)
        thread.start()
    }

    /// Whether `start` has launched the thread.
    var hasStarted: Bool { started.load(ordering: .relaxed) }

    /// Asks the thread to stop and waits until it has (within one poll interval).
    func stop() async {
        stopping.store(true, ordering: .relaxed)
        await exit.wait()
    }

    var shouldStop: Bool { stopping.load(ordering: .relaxed) }

    /// Hands the worker a flow found in the flow store; it applies it on its next loop turn.
    func deliver(_ flow: RelayFlow) {
        restored.withLock { $0.append(flow) }
        hasRestored.store(true, ordering: .releasing)
    }

    /// The restored flows waiting, if any (one atomic load, inlined, when there are none).
    @inline(__always)
    func takeRestored() -> [RelayFlow] {
        guard hasRestored.load(ordering: .acquiring) else { return [] }
        return takeRestoredFlows()
    }

    private func takeRestoredFlows() -> [RelayFlow] {
        restored.withLock { flows in
            hasRestored.store(false, ordering: .relaxed)
            defer { flows.removeAll(keepingCapacity: true) }
            return flows
        }
    }

    /// Hands the worker a rotated keyring; it verifies new flows with it from its next loop turn.
    func deliver(_ keyring: RoutingKeyring) {
        replacementKeyring.withLock { $0 = keyring }
        hasReplacementKeyring.store(true, ordering: .releasing)
    }

    /// The keyring delivered since the last call, if any (one atomic load when there is none).
    @inline(__always)
    func takeReplacementKeyring() -> RoutingKeyring? {
        guard hasReplacementKeyring.load(ordering: .acquiring) else { return nil }
        return replacementKeyring.withLock { keyring in
            hasReplacementKeyring.store(false, ordering: .relaxed)
            defer { keyring = nil }
            return keyring
        }
    }

    func closeSockets() {
        publicSocket.close()
        internalSocket.close()
        backboneSocket?.close()
    }
}

/// A one-shot gate: `wait()` returns once `open()` has been called, from any thread.
final class ExitLatch: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let isOpen = state.withLock { state in
                if !state.open { state.waiters.append(continuation) }
                return state.open
            }
            if isOpen { continuation.resume() }
        }
    }
}
