import Glibc
import NIOCore
import NIOPosix
import ParleyNIO
import ParleyRouting
import ParleyWire
import Synchronization

/// One relay TCP worker, the runtime around a `RelayTCPCore`: an event loop with its own
/// listening socket on the public TCP port (SO_REUSEPORT), its own internal UDP socket (an
/// ephemeral port on the internal IP: transceivers reply to it, so both directions of a
/// connection stay on the loop), the connections' channels and one timer. Everything mutable
/// lives on the loop; this is the `Sendable` handle for starting, stopping and counting.
///
/// The UDP workers never see a TCP client: they keep their threads, sockets and flow tables,
/// and this loop is a thread of its own.
final class RelayTCPWorker: Sendable {
    let index: Int
    let eventLoop: any EventLoop
    let listenSocket: TCPListenSocket
    let internalSocket: UDPSocket
    let counters = AtomicCounterArray(count: RelayTCPCounter.count)
    private let state: NIOLoopBoundBox<State?>
    /// Set once the sockets belong to NIO channels (which then close them).
    private let handedOver = Atomic<Bool>(false)

    init(index: Int, eventLoop: any EventLoop, listenSocket: TCPListenSocket, internalSocket: UDPSocket) {
        self.index = index
        self.eventLoop = eventLoop
        self.listenSocket = listenSocket
        self.internalSocket = internalSocket
        state = .makeEmptyBox(valueType: State.self, eventLoop: eventLoop)
    }

    /// Registers the sockets with the loop and starts taking connections.
    func start(configuration: RelayConfiguration, keyring: RoutingKeyring) {
        handedOver.store(true, ordering: .relaxed)
        let box = state
        let counters = counters
        let listen = listenSocket.descriptor
        let internalDescriptor = internalSocket.descriptor
        eventLoop.execute {
            let worker = State(core: RelayTCPCore(configuration: configuration, keyring: keyring, now: .now),
                               eventLoop: box.eventLoop, counters: counters)
            box.value = worker
            DatagramBootstrap(group: box.eventLoop)
                .channelOption(.datagramVectorReadMessageCount, value: 16)
                .channelOption(.maxMessagesPerRead, value: 1)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 16 * configuration.maxDatagramSize))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RelayTCPInternalHandler(worker: worker))
                    }
                }
                .withBoundSocket(internalDescriptor)
                .whenSuccess { box.value?.internalChannel = $0 }
            ServerBootstrap(group: box.eventLoop)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                // The kernel takes at most this much unsent data (Linux's TCP_NOTSENT_LOWAT): with
                // the core's send queue it bounds how stale a reply can get behind a closed
                // window, without limiting what is in flight.
                .childChannelOption(.tcpOption(.init(rawValue: TCP_NOTSENT_LOWAT)), value: State.kernelUnsentLimit)
                .childChannelOption(.maxMessagesPerRead, value: 4)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        guard let worker = box.value, let id = worker.accept(channel) else {
                            channel.close(promise: nil)
                            return
                        }
                        try channel.pipeline.syncOperations.addHandler(ICETCPConnectionHandler(id: id, worker: worker))
                    }
                }
                .withBoundSocket(listen)
                .whenSuccess { box.value?.serverChannel = $0 }
            worker.tick()
        }
    }

    /// Verifies new connections' first frames with `keyring` once the loop gets to it;
    /// connections already admitted are not touched. Delivered after `start` (the relay
    /// orders the two under its keyring lock), so the loop runs the start first.
    func deliver(_ keyring: RoutingKeyring) {
        let box = state
        eventLoop.execute { box.value?.core.replaceKeyring(keyring) }
    }

    /// Stops taking connections, closes every connection and the internal socket, and waits
    /// until they are closed.
    func stop() async {
        guard handedOver.load(ordering: .relaxed) else {
            listenSocket.close()
            internalSocket.close()
            return
        }
        let box = state
        _ = try? await eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            guard let worker = box.value else { return box.eventLoop.makeSucceededVoidFuture() }
            return worker.close()
        }.get()
    }

    /// The worker's state, confined to its loop.
    final class State {
        /// What the kernel may hold of a connection's unsent replies (TCP_NOTSENT_LOWAT).
        static let kernelUnsentLimit = 8_192
        /// How often counters are published and timeouts looked at, at most.
        static let tickInterval: Duration = .milliseconds(100)

        var core: RelayTCPCore
        let eventLoop: any EventLoop
        let counters: AtomicCounterArray
        var internalChannel: (any Channel)?
        var serverChannel: (any Channel)?
        private var connections: [RelayTCPConnectionID: any Channel] = [:]
        /// Connections written to since the last flush.
        private var unflushed: [RelayTCPConnectionID] = []
        private var addresses = SocketAddressCache()
        private var timer: Scheduled<Void>?
        private var isClosed = false

        init(core: consuming RelayTCPCore, eventLoop: any EventLoop, counters: AtomicCounterArray) {
            self.core = core
            self.eventLoop = eventLoop
            self.counters = counters
        }

        /// A connection the listening socket accepted: its id, or nil when it must be closed.
        func accept(_ channel: any Channel) -> RelayTCPConnectionID? {
            guard !isClosed, let remote = channel.remoteAddress, let client = PeerAddress(remote),
                  let id = core.handleAccept(client: client, now: .now) else { return nil }
            connections[id] = channel
            return id
        }

        /// Bytes read from connection `id`: frames go out on the internal socket (flushed when
        /// the connection's read batch ends), connections the core gave up on are closed.
        func received(_ bytes: UnsafeRawBufferPointer, on id: RelayTCPConnectionID) {
            core.handleReceived(bytes, on: id, now: .now)
            transmit()
            closeRequested()
        }

        /// The end of a connection's read batch: the datagrams it produced leave together.
        func flushInternal() {
            internalChannel?.flush()
        }

        /// The kernel refused a datagram toward a transceiver or peer relay.
        func sendFailed() {
            core.handleSendFailures(1)
        }

        /// Connection `id`'s channel went inactive.
        func closed(_ id: RelayTCPConnectionID) {
            connections.removeValue(forKey: id)
            core.handleClosed(id)
        }

        /// A datagram on the internal socket: a reply written, framed, on its connection, or dropped.
        func reply(_ envelope: AddressedEnvelope<ByteBuffer>) {
            guard let source = PeerAddress(envelope.remoteAddress) else { return }
            let action = envelope.data.withUnsafeReadableBytes { datagram in
                core.handleReply(datagram, from: source) { [connections] id in
                    guard let channel = connections[id] else { return .max }
                    return (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
                }
            }
            guard case .write(let id, let payloadOffset) = action, let channel = connections[id] else { return }
            let payload = envelope.data.readableBytesView.dropFirst(payloadOffset)
            var frame = channel.allocator.buffer(capacity: RFC4571Framing.headerLength + payload.count)
            frame.writeInteger(UInt16(payload.count))
            frame.writeBytes(payload)
            channel.write(frame, promise: nil)
            unflushed.append(id)
        }

        /// The end of a batch of replies: every connection written to is flushed once.
        func flushConnections() {
            for id in unflushed { connections[id]?.flush() }
            unflushed.removeAll(keepingCapacity: true)
        }

        /// Writes what the core queued for transceivers and peer relays (unflushed).
        private func transmit() {
            guard let channel = internalChannel else {
                let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: RelayEncapsulation.maximumHeaderLength + RelayTCPCore.maxFrameLength, alignment: 1)
                defer { scratch.deallocate() }
                var dropped = 0
                while core.pollTransmit(into: scratch) != nil { dropped += 1 }
                core.handleSendFailures(dropped)
                return
            }
            let capacity = RelayEncapsulation.maximumHeaderLength + RelayTCPCore.maxFrameLength
            while true {
                var buffer = channel.allocator.buffer(capacity: capacity)
                var destination: PeerAddress?
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { raw in
                    guard let datagram = core.pollTransmit(into: raw) else { return 0 }
                    destination = datagram.destination
                    return datagram.length
                }
                guard let destination else { return }
                channel.write(AddressedEnvelope(remoteAddress: addresses.socketAddress(for: destination), data: buffer),
                              promise: nil)
            }
        }

        /// Closes the connections the core gave up on, without writing to them.
        private func closeRequested() {
            while let id = core.pollClose() {
                connections.removeValue(forKey: id)?.close(promise: nil)
            }
        }

        /// Timeouts and the published counters, then the next tick.
        func tick() {
            let now = Instant.now
            core.handleTimeout(now: now)
            closeRequested()
            counters.publish(core.counters)
            guard !isClosed else { return }
            let next = min(core.nextDeadline(), now + Self.tickInterval)
            timer = eventLoop.assumeIsolated().scheduleTask(deadline: next.nioDeadline) { [self] in tick() }
        }

        /// Closes everything; the future completes when every channel has closed.
        func close() -> EventLoopFuture<Void> {
            isClosed = true
            timer?.cancel()
            timer = nil
            var closing: [EventLoopFuture<Void>] = []
            for channel in [serverChannel, internalChannel].compactMap({ $0 }) + Array(connections.values) {
                closing.append(channel.close().recover { _ in })
            }
            connections.removeAll()
            counters.set(RelayTCPCounter.connections, to: 0)
            return EventLoopFuture.andAllComplete(closing, on: eventLoop)
        }
    }
}
