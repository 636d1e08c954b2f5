import ParleyRouting
import ParleyWire

/// A TCP connection of one relay TCP worker, as its core names it.
public struct RelayTCPConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public var description: String { "tcp#\(rawValue)" }
}

/// What a TCP worker does with a datagram on its internal socket: `RelayTCPCore.handleReply`'s
/// decision.
public enum RelayTCPReplyAction: Sendable, Equatable {
    /// Write the datagram's payload (from `payloadOffset`, past the encapsulation header) on
    /// the connection, behind its RFC 4571 length.
    case write(RelayTCPConnectionID, payloadOffset: Int)
    /// Send nothing (counted under the reason).
    case drop(RelayTCPFrameDropReason)
}

/// One relay TCP worker's decisions for ICE-TCP clients (RFC 6544, the passive side), without
/// sockets, threads or clocks: which connections to take, the RFC 4571 §2 framing, the
/// admission of a connection by the routing token of its first frame, forwarding its frames to
/// the transceiver (or a peer cluster's relay) over the relay encapsulation marked TCP
/// (docs/relay-encapsulation.md), the return path with a bounded send queue, and the timeouts.
///
/// A connection's first frame must be a STUN Binding request (RFC 8489 §6) whose USERNAME
/// begins with a routing token that verifies, exactly as a UDP flow's first datagram
/// (docs/routing-token.md); anything else closes it with no reply. After that frames pass
/// without a look inside. Frames longer than `maxFrameLength`, connections that do not
/// complete a first frame within `tcpFirstFrameTimeout` or no frame within the idle timeout,
/// more than `maxTCPConnectionsPerSource` connections from one IP and more than
/// `maxTCPConnectionsPerWorker` in all are closed and counted.
///
/// The runtime reports accepts (`handleAccept`), bytes read (`handleReceived`), datagrams
/// from the internal socket (`handleReply`), closes it saw (`handleClosed`) and the time
/// (`handleTimeout`); after each it drains `pollTransmit(into:)` (datagrams toward
/// transceivers) and `pollClose()` (connections to close without a word).
public struct RelayTCPCore: ~Copyable {
    /// The longest frame a client may send. WebRTC keeps its packets under about 1,200 bytes
    /// (DTLS records, SCTP packets, Opus RTP), so 1,500 leaves room and bounds what a
    /// connection that never completes a frame can make the relay hold.
    public static let maxFrameLength = 1_500

    private struct Connection {
        let client: PeerAddress
        let acceptedAt: Instant
        var decoder = RFC4571FrameDecoder(maxFrameLength: RelayTCPCore.maxFrameLength)
        /// Where the client's frames go, once its first frame verified.
        var nextHop: PeerAddress?
        var nextHopIsPeerRelay = false
        /// The last complete frame from the client (the accept until the first).
        var lastFrameAt: Instant
    }

    /// Where a connection's first frame sends it, or why it closes.
    private enum FirstFrameVerdict {
        case admit(nextHop: PeerAddress, viaPeerRelay: Bool)
        case close(RelayTCPCloseReason)
    }

    /// An encapsulated frame in `outbox`, waiting for `pollTransmit(into:)`.
    private struct PendingDatagram {
        let destination: PeerAddress
        let start: Int
        let length: Int
    }

    private var keyring: RoutingKeyring
    private let cluster: UInt16
    private let peerClusters: [UInt16: PeerAddress]
    private let sendsFromIPv4: Bool
    private let maxConnections: Int
    private let maxConnectionsPerSource: Int
    private let firstFrameTimeout: Duration
    private let idleTimeout: Duration
    private let sendQueueLimit: Int
    private let sweepInterval: Duration
    private var connections: [RelayTCPConnectionID: Connection] = [:]
    private var connectionByClient: [PeerAddress: RelayTCPConnectionID] = [:]
    private var connectionsBySource: [IPAddress: Int] = [:]
    private var nextID: UInt64 = 1
    private var outbox: [UInt8] = []
    private var pending = FIFO<PendingDatagram>()
    private var closing = FIFO<RelayTCPConnectionID>()
    private var lastSweep: Instant
    private let counts: UnsafeMutablePointer<UInt64>

    /// Verifies first frames with `keyring` from now on (a rotation, docs/routing-token.md):
    /// admitted connections keep forwarding, only new connections' first frames are checked.
    public mutating func replaceKeyring(_ keyring: RoutingKeyring) {
        self.keyring = keyring
    }

    /// A TCP worker's core for `configuration` (its connection limits and timeouts, the
    /// cluster and peer clusters, the internal address's family).
    public init(configuration: RelayConfiguration, keyring: RoutingKeyring, now: Instant) {
        self.keyring = keyring
        cluster = configuration.cluster
        peerClusters = configuration.peerClusters
        sendsFromIPv4 = configuration.internalAddress.ip.isIPv4
        maxConnections = max(configuration.maxTCPConnectionsPerWorker, 0)
        maxConnectionsPerSource = max(configuration.maxTCPConnectionsPerSource, 0)
        firstFrameTimeout = configuration.tcpFirstFrameTimeout
        idleTimeout = configuration.flowIdleTimeout
        sendQueueLimit = configuration.tcpSendQueueBytes
        // Timeouts are checked by a sweep over every connection: ten sweeps per shortest
        // timeout, at most one a second.
        let shortest = min(configuration.tcpFirstFrameTimeout, configuration.flowIdleTimeout)
        sweepInterval = max(.milliseconds(10), min(.seconds(1), shortest / 10))
        lastSweep = now
        counts = .allocate(capacity: RelayTCPCounter.count)
        counts.initialize(repeating: 0, count: RelayTCPCounter.count)
    }

    deinit {
        counts.deallocate()
    }

    // MARK: Connections

    /// A connection from `client` was accepted. Returns its id, or nil when it must be closed
    /// at once (the worker's or the source's limit is reached; counted).
    public mutating func handleAccept(client: PeerAddress, now: Instant) -> RelayTCPConnectionID? {
        counts[RelayTCPCounter.accepted] &+= 1
        guard connections.count < maxConnections else {
            counts[RelayTCPCounter.refused(.workerLimit)] &+= 1
            return nil
        }
        guard connectionsBySource[client.ip, default: 0] < maxConnectionsPerSource else {
            counts[RelayTCPCounter.refused(.sourceLimit)] &+= 1
            return nil
        }
        let id = RelayTCPConnectionID(rawValue: nextID)
        nextID += 1
        connections[id] = Connection(client: client, acceptedAt: now, lastFrameAt: now)
        connectionByClient[client] = id
        connectionsBySource[client.ip, default: 0] += 1
        counts[RelayTCPCounter.connections] = UInt64(connections.count)
        return id
    }

    /// Bytes read from connection `id`: every frame they complete is checked (the first) and
    /// queued for its next hop. A bad first frame or an oversize one closes the connection.
    public mutating func handleReceived(_ bytes: UnsafeRawBufferPointer, on id: RelayTCPConnectionID, now: Instant) {
        guard connections[id] != nil else { return }
        connections[id]?.decoder.append(bytes)
        while let output = connections[id]?.decoder.nextFrame() {
            switch output {
            case .oversize:
                close(id, .oversizeFrame)
                return
            case .frame(let frame):
                counts[RelayTCPCounter.framesReceived] &+= 1
                let isOpen = frame.withUnsafeBytes { handleFrame($0, on: id, now: now) }
                guard isOpen else { return }
            }
        }
    }

    /// The runtime saw connection `id` end (the client closed it, or it failed).
    public mutating func handleClosed(_ id: RelayTCPConnectionID) {
        remove(id, .clientClosed)
    }

    /// One complete frame of connection `id`; false when it closed the connection.
    private mutating func handleFrame(_ frame: UnsafeRawBufferPointer, on id: RelayTCPConnectionID, now: Instant) -> Bool {
        guard let connection = connections[id] else { return false }
        let nextHop: PeerAddress
        let viaPeerRelay: Bool
        if let admitted = connection.nextHop {
            guard !frame.isEmpty else {
                counts[RelayTCPCounter.dropped(.emptyFrame)] &+= 1
                return true
            }
            nextHop = admitted
            viaPeerRelay = connection.nextHopIsPeerRelay
        } else {
            switch verdict(onFirstFrame: frame) {
            case .close(let reason):
                close(id, reason)
                return false
            case .admit(let admittedHop, let admittedViaPeerRelay):
                (nextHop, viaPeerRelay) = (admittedHop, admittedViaPeerRelay)
                connections[id]?.nextHop = nextHop
                connections[id]?.nextHopIsPeerRelay = viaPeerRelay
                counts[RelayTCPCounter.admitted] &+= 1
            }
        }
        connections[id]?.lastFrameAt = now
        queue(frame, from: connection.client, to: nextHop)
        let direction: RelayDirection = viaPeerRelay ? .clientToPeerRelay : .clientToTransceiver
        counts[RelayTCPCounter.forwarded(direction)] &+= 1
        counts[RelayTCPCounter.forwardedBytes(direction)] &+= UInt64(RelayEncapsulation.headerLength(for: connection.client) + frame.count)
        return true
    }

    /// Where a connection's frames go, from its first frame: a Binding request whose routing
    /// token verifies names the transceiver, or the cluster whose relay reaches it.
    private func verdict(onFirstFrame frame: UnsafeRawBufferPointer) -> FirstFrameVerdict {
        guard let username = STUNPeek.username(in: frame) else { return .close(.notBindingRequest) }
        guard let token = RoutingToken.verify(usernameOf: frame, at: username, keyring: keyring) else {
            return .close(.badToken)
        }
        var nextHop = token.transceiver
        let viaPeerRelay = token.cluster != cluster
        if viaPeerRelay {
            guard let peer = peerClusters[token.cluster] else { return .close(.unknownCluster) }
            nextHop = peer
        }
        guard nextHop.ip.isIPv4 == sendsFromIPv4 else { return .close(.addressFamily) }
        return .admit(nextHop: nextHop, viaPeerRelay: viaPeerRelay)
    }

    /// Puts `frame` behind the encapsulation header naming `client` as a TCP client, for `nextHop`.
    private mutating func queue(_ frame: UnsafeRawBufferPointer, from client: PeerAddress, to nextHop: PeerAddress) {
        let start = outbox.count
        let headerLength = RelayEncapsulation.headerLength(for: client)
        outbox.append(contentsOf: repeatElement(0, count: headerLength))
        outbox.withUnsafeMutableBytes {
            _ = RelayEncapsulation.writeHeader(client: client, transport: .tcp,
                                               into: UnsafeMutableRawBufferPointer(rebasing: $0[start...]))
        }
        outbox.append(contentsOf: frame)
        pending.append(PendingDatagram(destination: nextHop, start: start, length: headerLength + frame.count))
    }

    /// Closes connection `id` on the core's own account: counted, and queued for the runtime.
    private mutating func close(_ id: RelayTCPConnectionID, _ reason: RelayTCPCloseReason) {
        guard remove(id, reason) else { return }
        closing.append(id)
    }

    /// Forgets connection `id` and counts why; false when it was already gone.
    @discardableResult
    private mutating func remove(_ id: RelayTCPConnectionID, _ reason: RelayTCPCloseReason) -> Bool {
        guard let connection = connections.removeValue(forKey: id) else { return false }
        if connectionByClient[connection.client] == id { connectionByClient.removeValue(forKey: connection.client) }
        if let open = connectionsBySource[connection.client.ip] {
            connectionsBySource[connection.client.ip] = open > 1 ? open - 1 : nil
        }
        counts[RelayTCPCounter.closed(reason)] &+= 1
        counts[RelayTCPCounter.connections] = UInt64(connections.count)
        return true
    }

    // MARK: Replies

    /// A datagram on the worker's internal socket, from `source`: a reply for a TCP client
    /// (the encapsulation's TCP mark) from the next hop of that client's connection, written
    /// on the connection unless `queuedBytes` (what the runtime holds for a connection,
    /// written and not yet taken by the kernel) leaves no room under the send queue limit.
    public mutating func handleReply(_ datagram: UnsafeRawBufferPointer, from source: PeerAddress,
                                     queuedBytes: (RelayTCPConnectionID) -> Int) -> RelayTCPReplyAction {
        let action = decideReply(datagram, from: source, queuedBytes: queuedBytes)
        if case .drop(let reason) = action { counts[RelayTCPCounter.dropped(reason)] &+= 1 }
        return action
    }

    private func decideReply(_ datagram: UnsafeRawBufferPointer, from source: PeerAddress,
                             queuedBytes: (RelayTCPConnectionID) -> Int) -> RelayTCPReplyAction {
        guard let (client, transport, payloadOffset) = RelayEncapsulation.parse(datagram), transport == .tcp else {
            return .drop(.badEncapsulation)
        }
        guard let id = connectionByClient[client], let connection = connections[id],
              connection.nextHop == source else { return .drop(.noConnection) }
        let frameLength = RFC4571Framing.headerLength + datagram.count - payloadOffset
        guard queuedBytes(id) + frameLength <= sendQueueLimit else { return .drop(.sendQueueFull) }
        let direction: RelayDirection = connection.nextHopIsPeerRelay ? .peerRelayToClient : .transceiverToClient
        counts[RelayTCPCounter.forwarded(direction)] &+= 1
        counts[RelayTCPCounter.forwardedBytes(direction)] &+= UInt64(frameLength)
        return .write(id, payloadOffset: payloadOffset)
    }

    /// `count` datagrams toward transceivers the kernel refused.
    public mutating func handleSendFailures(_ count: Int) {
        counts[RelayTCPCounter.dropped(.sendFailed)] &+= UInt64(count)
    }

    // MARK: Output

    /// Writes the next queued datagram (encapsulation header, then a client's frame) into
    /// `buffer`; nil when none waits. One that does not fit is dropped as `send_failed`.
    public mutating func pollTransmit(into buffer: UnsafeMutableRawBufferPointer) -> OutgoingDatagram? {
        while let datagram = pending.popFirst() {
            defer { if pending.isEmpty { outbox.removeAll(keepingCapacity: true) } }
            guard datagram.length <= buffer.count else {
                counts[RelayTCPCounter.dropped(.sendFailed)] &+= 1
                continue
            }
            outbox.withUnsafeBytes {
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[datagram.start..<(datagram.start + datagram.length)]))
            }
            return OutgoingDatagram(destination: datagram.destination, length: datagram.length)
        }
        return nil
    }

    /// The next connection the runtime must close, without writing anything to it.
    public mutating func pollClose() -> RelayTCPConnectionID? {
        closing.popFirst()
    }

    // MARK: Time

    /// Closes connections without a complete first frame `tcpFirstFrameTimeout` after their
    /// accept, and admitted ones without a frame from the client for the idle timeout. Sweeps
    /// at most once per sweep interval, however often it is called.
    public mutating func handleTimeout(now: Instant) {
        guard now - lastSweep >= sweepInterval else { return }
        lastSweep = now
        var expired: [(RelayTCPConnectionID, RelayTCPCloseReason)] = []
        for (id, connection) in connections {
            if connection.nextHop == nil {
                if now - connection.acceptedAt >= firstFrameTimeout { expired.append((id, .firstFrameTimeout)) }
            } else if now - connection.lastFrameAt >= idleTimeout {
                expired.append((id, .idleTimeout))
            }
        }
        for (id, reason) in expired { close(id, reason) }
    }

    /// When `handleTimeout(now:)` next has work: one sweep interval after the last sweep.
    public func nextDeadline() -> Instant {
        lastSweep + sweepInterval
    }

    // MARK: Counters

    /// Connections open now.
    public var connectionCount: Int { connections.count }

    public var statistics: RelayTCPStatistics {
        RelayTCPStatistics(values: Array(UnsafeBufferPointer(start: counts, count: RelayTCPCounter.count)))
    }

    /// The counters in `RelayTCPCounter`'s index space, for the runtime to publish.
    var counters: UnsafePointer<UInt64> { UnsafePointer(counts) }
}
