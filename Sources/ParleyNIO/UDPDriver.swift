import NIOCore
import NIOPosix
import ParleyWire

/// How a `UDPDriver`'s socket reads, and how much memory it lends its endpoint at a time.
public struct UDPSocketOptions: Sendable {
    /// Datagrams taken per `recvmmsg` call; nil reads one datagram per system call.
    public var datagramsPerRead: Int?
    /// The largest datagram a vector read keeps whole.
    public var maxDatagramSize: Int
    public var reuseAddress: Bool
    /// Datagrams of the endpoint's largest size one lent buffer takes; more get another.
    public var datagramsPerTransmitBuffer: Int
    /// The socket's receive buffer (SO_RCVBUF, socket(7); the kernel caps it at
    /// `net.core.rmem_max`); nil keeps the system's default.
    public var receiveBufferBytes: Int?

    public init(datagramsPerRead: Int? = nil, maxDatagramSize: Int = 2_048, reuseAddress: Bool = false,
                datagramsPerTransmitBuffer: Int = 4, receiveBufferBytes: Int? = nil) {
        self.receiveBufferBytes = receiveBufferBytes
        self.datagramsPerRead = datagramsPerRead
        self.maxDatagramSize = maxDatagramSize
        self.reuseAddress = reuseAddress
        self.datagramsPerTransmitBuffer = datagramsPerTransmitBuffer
    }

    /// A server socket carrying many sessions: 16 datagrams per `recvmmsg`, buffers lent
    /// for 32 datagrams at a time.
    public static let batched = UDPSocketOptions(datagramsPerRead: 16, maxDatagramSize: 2_048, reuseAddress: true,
                                                 datagramsPerTransmitBuffer: 32)
    /// A client socket carrying one call: NIO's defaults for reads.
    public static let single = UDPSocketOptions()
}

/// One UDP socket on one event loop driving one sans-IO endpoint: the only I/O a transceiver
/// shard or a load-generator call has.
///
/// It feeds the endpoint each datagram read and the loop's clock as an `Instant`; after each
/// read batch, timeout or operation it lends the endpoint one buffer for all the datagrams it
/// has to send (sliced, not copied, into the writes; flushed once, so NIO sends the batch
/// with one `sendmmsg`), then arms exactly one timer at the endpoint's next deadline.
/// Everything mutable lives on the loop, in a loop-bound box; the driver itself is a
/// `Sendable` handle for the code that runs operations on the endpoint from elsewhere.
public final class UDPDriver<Endpoint: DatagramEndpoint>: Sendable {
    public let eventLoop: any EventLoop
    private let core: NIOLoopBoundBox<Core>

    /// Takes `endpoint` over; from now on it is touched only on `eventLoop`.
    public init(endpoint: sending Endpoint, eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        core = NIOLoopBoundBox.makeBoxSendingValue(Core(endpoint: endpoint, eventLoop: eventLoop), eventLoop: eventLoop)
    }

    /// Binds the socket; returns its address (the port is chosen when 0 is asked).
    public func bind(to address: SocketAddress, options: UDPSocketOptions) async throws -> PeerAddress {
        let core = core
        let datagramsPerBuffer = max(1, options.datagramsPerTransmitBuffer)
        var bootstrap = DatagramBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let driver = core.value
                    driver.channel = channel
                    driver.datagramsPerBuffer = datagramsPerBuffer
                    try channel.pipeline.syncOperations.addHandler(DatagramHandler(
                        read: { driver.read($0) }, readComplete: { driver.afterInput() }))
                }
            }
        if options.reuseAddress {
            bootstrap = bootstrap.channelOption(.socketOption(.so_reuseaddr), value: 1)
        }
        if let bytes = options.receiveBufferBytes {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(bytes))
        }
        if let count = options.datagramsPerRead {
            bootstrap = bootstrap
                .channelOption(.datagramVectorReadMessageCount, value: count)
                // One recvmmsg per readiness event: a short batch already means the queue is
                // empty, so a second call would only return EAGAIN (epoll is level-triggered,
                // so a full batch brings the loop straight back).
                .channelOption(.maxMessagesPerRead, value: 1)
                // A vector read splits one buffer evenly across its messages: give each a full datagram.
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: count * options.maxDatagramSize))
        }
        let channel = try await bootstrap.bind(to: address).get()
        guard let local = channel.localAddress, let bound = PeerAddress(local) else {
            try? await channel.close()
            throw ChannelError.unknownLocalAddress
        }
        return bound
    }

    /// Runs `body` on the loop with the endpoint and the loop's clock, then sends what it
    /// queued and re-arms the timer.
    public func run<Result: Sendable>(
        _ body: @escaping @Sendable (Endpoint, Instant) throws -> Result
    ) async throws -> Result {
        let core = core
        return try await eventLoop.submit {
            let driver = core.value
            defer { driver.afterInput() }
            return try body(driver.endpoint, .now)
        }.get()
    }

    /// `run` for code already on the loop (one task visiting many drivers of its loop).
    public func runOnLoop<Result>(_ body: (Endpoint, Instant) throws -> Result) rethrows -> Result {
        let driver = core.value
        defer { driver.afterInput() }
        return try body(driver.endpoint, .now)
    }

    /// `run` without waiting: for wake-ups from other threads.
    public func execute(_ body: @escaping @Sendable (Endpoint, Instant) -> Void) {
        let core = core
        eventLoop.execute {
            let driver = core.value
            body(driver.endpoint, .now)
            driver.afterInput()
        }
    }

    /// Closes the socket and stops the timer; operations still run, their datagrams are dropped.
    public func close() async {
        let core = core
        try? await eventLoop.submit { core.value.close() }.get()
    }

    /// The driver's state, confined to its loop.
    final class Core {
        let endpoint: Endpoint
        let eventLoop: any EventLoop
        var channel: (any Channel)?
        private var timer: Scheduled<Void>?
        private var timerDeadline: Instant?
        /// Memory lent to the endpoint for its next datagrams; given away (sliced into
        /// writes) once something was written into it.
        private var transmitBuffer: ByteBuffer?
        private var written: [(destination: PeerAddress, offset: Int, length: Int)] = []
        private var addresses = SocketAddressCache()
        /// Datagrams one lent buffer takes before another is needed.
        var datagramsPerBuffer = 1

        init(endpoint: Endpoint, eventLoop: any EventLoop) {
            self.endpoint = endpoint
            self.eventLoop = eventLoop
        }

        func read(_ envelope: AddressedEnvelope<ByteBuffer>) {
            // A UDP socket's peers are always IPv4 or IPv6 addresses.
            guard let source = PeerAddress(envelope.remoteAddress) else { return }
            let now = Instant.now
            envelope.data.withUnsafeReadableBytes { endpoint.handle($0, from: source, now: now) }
        }

        /// After any input: send, re-arm, and close once the endpoint is done.
        func afterInput() {
            transmit()
            endpoint.didFlush()
            if endpoint.isFinished {
                close()
            } else {
                rearm()
            }
        }

        private func transmit() {
            let maxLength = endpoint.maxTransmitLength
            guard let channel else {
                // Nothing bound (or closed): what the endpoint has to send is dropped.
                let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: maxLength, alignment: 1)
                defer { scratch.deallocate() }
                while endpoint.pollTransmit(into: scratch) != nil {}
                return
            }
            var flush = false
            while true {
                var buffer = transmitBuffer ?? channel.allocator.buffer(capacity: maxLength * datagramsPerBuffer)
                transmitBuffer = nil
                var drained = false
                while buffer.writableBytes >= maxLength {
                    var destination: PeerAddress?
                    let start = buffer.writerIndex
                    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: maxLength) { raw in
                        guard let datagram = endpoint.pollTransmit(into: UnsafeMutableRawBufferPointer(rebasing: raw.prefix(maxLength))) else {
                            return 0
                        }
                        destination = datagram.destination
                        return datagram.length
                    }
                    guard let destination else {
                        drained = true
                        break
                    }
                    written.append((destination, start, buffer.writerIndex - start))
                }
                guard !written.isEmpty else {
                    transmitBuffer = buffer
                    break
                }
                // Slices share the buffer's memory: made only now, after the last write into it.
                for datagram in written {
                    let slice = buffer.getSlice(at: datagram.offset, length: datagram.length)!
                    channel.write(AddressedEnvelope(remoteAddress: addresses.socketAddress(for: datagram.destination), data: slice), promise: nil)
                }
                written.removeAll(keepingCapacity: true)
                flush = true
                if drained { break }
            }
            if flush { channel.flush() }
        }

        private func rearm() {
            let deadline = endpoint.nextDeadline()
            // An armed timer at or before the deadline stays: when it fires early the
            // endpoint finds nothing due and the timer moves on, which costs less than
            // cancelling and scheduling on every change.
            if let armed = timerDeadline, let deadline, armed <= deadline { return }
            guard let deadline else { return }
            timer?.cancel()
            timerDeadline = deadline
            timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline.nioDeadline) { [self] in
                timer = nil
                timerDeadline = nil
                endpoint.handleTimeout(now: .now)
                afterInput()
            }
        }

        func close() {
            timer?.cancel()
            timer = nil
            timerDeadline = nil
            channel?.close(promise: nil)
            channel = nil
        }
    }
}
