import CParleyLinux
import Logging
import NIOPosix
import ParleyRouting
import ParleyWire
import Synchronization

/// The relay runtime: `workers` threads, each pinned to a core, each with its own
/// SO_REUSEPORT socket on the public port, its own internal socket (an ephemeral port on the
/// internal IP), its own backbone socket (SO_REUSEPORT on the internal IP's backbone port) and
/// its own flow table, so both directions of a flow stay on one thread with no locks.
/// With a public TCP address, TCP workers (event loops of their own) take ICE-TCP clients
/// (RFC 6544) on it. See docs/relay.md.
public final class Relay: Sendable {
    public let configuration: RelayConfiguration
    /// The public address as bound (with the kernel's port when configured with port 0).
    public let publicAddress: PeerAddress
    /// The backbone address as bound, if the relay accepts peer relays.
    public let backboneAddress: PeerAddress?
    /// The public TCP address as bound, if the relay takes ICE-TCP clients.
    public let publicTCPAddress: PeerAddress?
    /// What the kernel granted the public sockets (all alike): logged at start, since a
    /// small net.core.rmem_max silently turns bursts into drops.
    let socketBufferBytes: (receive: Int32, send: Int32)
    /// Each worker's internal socket: where transceivers see the relay's datagrams come from.
    public var internalAddresses: [PeerAddress] { workers.map(\.internalSocket.localAddress) }
    /// Each TCP worker's internal socket: where transceivers see a TCP client's datagrams come from.
    public var tcpInternalAddresses: [PeerAddress] { tcpWorkers.map(\.internalSocket.localAddress) }

    let workers: [RelayWorker]
    let tcpWorkers: [RelayTCPWorker]
    /// The TCP workers' event loops, one thread each; nil without a public TCP address.
    private let tcpEventLoops: MultiThreadedEventLoopGroup?
    let store: FlowStoreBridge?
    let metrics = RelayMetrics()
    let logger: Logger
    private let keyring: Mutex<RoutingKeyring>
    private let phase = Mutex<Phase>(.created)

    private enum Phase {
        case created
        case running(storeTask: Task<Void, Never>?)
        case draining(storeTask: Task<Void, Never>?)
        case stopped
    }

    /// Binds every socket (so a port in use fails here) without starting any thread.
    public init(configuration: RelayConfiguration, keyring: RoutingKeyring, flowStore: (any FlowStore)?,
                logger: Logger) throws(RelaySocketError) {
        self.configuration = configuration
        self.keyring = Mutex(keyring)
        self.logger = logger
        store = flowStore.map { FlowStoreBridge(store: $0, ttl: configuration.flowStoreTTL, logger: logger) }
        var workers: [RelayWorker] = []
        var tcpSockets: [(listen: TCPListenSocket, internal: UDPSocket)] = []
        var buffers = (receive: Int32(0), send: Int32(0))
        do throws(RelaySocketError) {
            var publicAddress = try Self.claimPort(configuration.publicAddress)
            var backboneAddress = try configuration.acceptsBackbone ? Self.claimPort(configuration.internalAddress) : nil
            for index in 0..<max(configuration.workers, 1) {
                let publicSocket = try UDPSocket(binding: publicAddress, reusePort: true)
                publicAddress = publicSocket.localAddress
                buffers = publicSocket.grantedBufferBytes
                let internalSocket: UDPSocket
                do {
                    internalSocket = try UDPSocket(
                        binding: PeerAddress(ip: configuration.internalAddress.ip, port: 0), reusePort: false)
                } catch {
                    publicSocket.close()
                    throw error
                }
                var backboneSocket: UDPSocket?
                if let address = backboneAddress {
                    do {
                        let socket = try UDPSocket(binding: address, reusePort: true)
                        backboneAddress = socket.localAddress
                        backboneSocket = socket
                    } catch {
                        publicSocket.close()
                        internalSocket.close()
                        throw error
                    }
                }
                workers.append(RelayWorker(index: index, publicSocket: publicSocket,
                                           internalSocket: internalSocket, backboneSocket: backboneSocket))
            }
            if let tcpAddress = configuration.publicTCPAddress {
                let claimed = try TCPListenSocket.claimPort(tcpAddress)
                for _ in 0..<max(configuration.tcpWorkers, 1) {
                    let listen = try TCPListenSocket(binding: claimed)
                    do {
                        let internalSocket = try UDPSocket(
                            binding: PeerAddress(ip: configuration.internalAddress.ip, port: 0), reusePort: false)
                        tcpSockets.append((listen, internalSocket))
                    } catch {
                        listen.close()
                        throw error
                    }
                }
            }
            self.publicAddress = publicAddress
            self.backboneAddress = backboneAddress
            publicTCPAddress = tcpSockets.first?.listen.localAddress
            socketBufferBytes = buffers
        } catch {
            for worker in workers { worker.closeSockets() }
            for sockets in tcpSockets {
                sockets.listen.close()
                sockets.internal.close()
            }
            throw error
        }
        self.workers = workers
        if tcpSockets.isEmpty {
            tcpEventLoops = nil
            tcpWorkers = []
        } else {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: tcpSockets.count)
            let loops = Array(group.makeIterator())
            tcpEventLoops = group
            tcpWorkers = tcpSockets.enumerated().map { index, sockets in
                RelayTCPWorker(index: index, eventLoop: loops[index % loops.count],
                               listenSocket: sockets.listen, internalSocket: sockets.internal)
            }
        }
    }

    /// `address` itself, or for port 0 a port no socket uses right now. The kernel's own choice
    /// for a SO_REUSEPORT bind to port 0 may be a port that other SO_REUSEPORT sockets of the
    /// same user already share, which would join two relays into one group.
    private static func claimPort(_ address: PeerAddress) throws(RelaySocketError) -> PeerAddress {
        guard address.port == 0 else { return address }
        let probe = try UDPSocket(binding: address, reusePort: false)
        defer { probe.close() }
        return probe.localAddress
    }

    /// Replaces the routing keys (`text` as in a keys file, docs/routing-token.md) without a
    /// restart: every UDP worker verifies new flows with them from its next loop turn, every
    /// TCP worker new connections from its next event-loop task; admitted flows and
    /// connections keep forwarding. Text that does not load is refused, the old keys stay,
    /// and the attempt is counted either way (`parley_relay_key_reloads_total{result}`).
    public func reloadRoutingKeys(text: String) throws -> RoutingKeyring {
        let replacement: RoutingKeyring
        do {
            replacement = try RoutingKeyring.load(text: text)
        } catch {
            metrics.keyReloadsRejected.increment()
            throw error
        }
        keyring.withLock { keyring in
            keyring = replacement
            for worker in workers { worker.deliver(replacement) }
            for worker in tcpWorkers { worker.deliver(replacement) }
        }
        metrics.keyReloadsApplied.increment()
        return replacement
    }

    /// The routing-key file could not be read; the loaded keys stay
    /// (`parley_relay_key_reloads_total{result="unreadable"}`).
    public func keyFileUnreadable() {
        metrics.keyReloadsUnreadable.increment()
    }

    /// Starts the worker threads and the flow-store task.
    public func start() {
        phase.withLock { phase in
            guard case .created = phase else { return }
            let cpus = configuration.pinsWorkers ? Self.allowedCPUs() : []
            for worker in workers {
                let cpu = cpus.isEmpty ? nil : cpus[worker.index % cpus.count]
                worker.start(cpu: cpu, configuration: configuration, keyring: keyring.withLock { $0 }, store: store)
            }
            // Under the keyring lock: a rotation delivered from now on reaches each TCP loop
            // after its start.
            keyring.withLock { keyring in
                for worker in tcpWorkers { worker.start(configuration: configuration, keyring: keyring) }
            }
            let storeTask = store.map { store in
                Task { [workers] in
                    await store.run { lookup, nextHop in
                        guard workers.indices.contains(lookup.worker) else { return }
                        workers[lookup.worker].deliver(RelayFlow(client: lookup.client, nextHop: nextHop, lastActivity: .zero))
                    }
                }
            }
            phase = .running(storeTask: storeTask)
        }
        logger.info("relay forwarding", metadata: [
            "public": "\(publicAddress)", "workers": "\(workers.count)", "cluster": "\(configuration.cluster)",
            "backbone": "\(backboneAddress.map(\.description) ?? "off")",
            "publicTCP": "\(publicTCPAddress.map(\.description) ?? "off")", "tcpWorkers": "\(tcpWorkers.count)",
            "flowStore": "\(store.map { "\(type(of: $0.store))" } ?? "none")",
            "socketReceiveBuffer": "\(socketBufferBytes.receive)", "socketSendBuffer": "\(socketBufferBytes.send)",
        ])
    }

    /// True while the relay runs and is not draining: what `/readyz` reports.
    public var isReady: Bool {
        phase.withLock { phase in
            if case .running = phase { return true }
            return false
        }
    }

    /// Reports not-ready from now on (so load balancers move traffic away); forwarding goes on.
    public func beginDraining() {
        phase.withLock { phase in
            if case .running(let storeTask) = phase { phase = .draining(storeTask: storeTask) }
        }
    }

    /// Stops the workers, closes the sockets and ends the flow-store task.
    public func stop() async {
        let (started, storeTask): (Bool, Task<Void, Never>?) = phase.withLock { phase in
            defer { phase = .stopped }
            switch phase {
            case .running(let task), .draining(let task): return (true, task)
            case .created: return (true, nil)
            case .stopped: return (false, nil)
            }
        }
        guard started else { return }
        for worker in workers where worker.hasStarted {
            await worker.stop()
        }
        for worker in workers {
            worker.closeSockets()
        }
        for worker in tcpWorkers {
            await worker.stop()
        }
        try? await tcpEventLoops?.shutdownGracefully()
        store?.finish()
        storeTask?.cancel()
        await storeTask?.value
    }

    /// The counters summed over the workers, as last published (each worker publishes on every
    /// turn of its loop, at least once per poll interval).
    public func statistics() -> RelayStatistics {
        var values = Array(repeating: UInt64(0), count: RelayCounter.count)
        for worker in workers {
            for index in values.indices {
                values[index] &+= worker.counters[index]
            }
        }
        return RelayStatistics(values: values)
    }

    /// The TCP workers' counters summed, as last published (each worker publishes at least
    /// every 100 ms); nil without a public TCP address.
    public func tcpStatistics() -> RelayTCPStatistics? {
        guard !tcpWorkers.isEmpty else { return nil }
        var values = Array(repeating: UInt64(0), count: RelayTCPCounter.count)
        for worker in tcpWorkers {
            for index in values.indices {
                values[index] &+= worker.counters[index]
            }
        }
        return RelayTCPStatistics(values: values)
    }

    /// The Prometheus text exposition served at `/metrics`.
    public func metricsExposition() -> String {
        metrics.exposition(statistics: statistics(), tcpStatistics: tcpStatistics(), store: store, isReady: isReady)
    }

    /// The CPUs this process may run on, in order.
    static func allowedCPUs() -> [Int32] {
        var cpus = [Int32](repeating: 0, count: 1_024)
        let count = parley_allowed_cpus(&cpus, Int32(cpus.count))
        return count > 0 ? Array(cpus[0..<Int(count)]) : []
    }
}
