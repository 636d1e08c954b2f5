import Logging
import NIOCore
import NIOPosix
import ParleyWire

/// The flow store shared by a cluster's relays: `SET parley:flow:<client> <transceiver> PX ttl`
/// and `GET` over one pipelined RESP2 connection to Redis.
///
/// It never blocks a caller for long: every command fails after `timeout` (200 ms by
/// default), and after a failed connection attempt commands fail at once with
/// `RedisFlowStoreError.unavailable` until a backoff (50 ms doubling to 2 s) has passed, when
/// the next command tries to connect again. The outage is logged once when it starts and once
/// when it ends; every failure is thrown for the caller to count.
public final class RedisFlowStore: FlowStore {
    public let endpoint: RedisEndpoint
    /// Prepended to the client address to form each key.
    public let keyPrefix: String
    private let eventLoop: any EventLoop
    private let timeout: TimeAmount
    private let logger: Logger
    private let state: NIOLoopBoundBox<ConnectionState>

    private enum Phase {
        case idle
        case connecting(EventLoopFuture<any Channel>)
        case connected(any Channel)
        case backingOff(until: NIODeadline)
    }

    private struct ConnectionState {
        var phase = Phase.idle
        var consecutiveFailures = 0
    }

    private static let firstBackoff = TimeAmount.milliseconds(50)
    private static let longestBackoff = TimeAmount.seconds(2)

    /// Throws `RedisFlowStoreError.invalidURL` (the URL with any password hidden) unless `url`
    /// is `redis://[[user]:password@]host[:port][/db]`.
    /// Connects lazily, on the first command, on one event loop of `eventLoopGroup`.
    public init(url: String, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger,
                timeout: Duration = .milliseconds(200), keyPrefix: String = "parley:flow:") throws {
        guard let endpoint = RedisEndpoint(url: url) else { throw RedisFlowStoreError.invalidURL(RedisEndpoint.redacted(url)) }
        self.endpoint = endpoint
        self.keyPrefix = keyPrefix
        self.eventLoop = eventLoopGroup.next()
        self.timeout = .nanoseconds(timeout.nanosecondsRounded)
        self.logger = logger
        self.state = NIOLoopBoundBox.makeBoxSendingValue(ConnectionState(), eventLoop: eventLoop)
    }

    public func record(client: PeerAddress, transceiver: PeerAddress, ttl: Duration) async throws {
        let milliseconds = max(1, ttl.nanosecondsRounded / 1_000_000)
        let reply = try await send(["SET", keyPrefix + client.description, transceiver.description, "PX", String(milliseconds)])
        guard reply == .simpleString("OK") else { throw Self.failure(for: reply) }
    }

    public func lookup(client: PeerAddress) async throws -> PeerAddress? {
        let reply = try await send(["GET", keyPrefix + client.description])
        switch reply {
        case .bulkString(nil):
            return nil
        case .bulkString(let bytes?):
            let text = String(decoding: bytes, as: UTF8.self)
            guard let transceiver = PeerAddress(text) else { throw RedisFlowStoreError.malformedValue(text) }
            return transceiver
        default:
            throw Self.failure(for: reply)
        }
    }

    /// Closes the connection; later commands reconnect.
    public func close() async {
        try? await eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            guard case .connected(let channel) = self.state.value.phase else { return self.eventLoop.makeSucceededVoidFuture() }
            self.state.value.phase = .idle
            return channel.close()
        }.get()
    }

    private static func failure(for reply: RedisRESPValue) -> RedisFlowStoreError {
        if case .error(let message) = reply { return .serverError(message) }
        return .unexpectedReply("\(reply)")
    }

    private func send(_ arguments: [String]) async throws -> RedisRESPValue {
        try await eventLoop.flatSubmit { self.sendOnLoop(arguments) }.get()
    }

    private func sendOnLoop(_ arguments: [String]) -> EventLoopFuture<RedisRESPValue> {
        channel().flatMap { channel in
            let promise = self.eventLoop.makePromise(of: RedisRESPValue.self)
            channel.writeAndFlush(RedisRequest(arguments: arguments, promise: promise), promise: nil)
            return promise.futureResult
        }
    }

    /// The open connection, a connection attempt in flight, or a new one unless backing off.
    private func channel() -> EventLoopFuture<any Channel> {
        switch state.value.phase {
        case .connected(let channel) where channel.isActive:
            return eventLoop.makeSucceededFuture(channel)
        case .connecting(let future):
            return future
        case .backingOff(let until) where NIODeadline.now() < until:
            return eventLoop.makeFailedFuture(RedisFlowStoreError.unavailable)
        case .idle, .connected, .backingOff:
            let future = connect()
            state.value.phase = .connecting(future)
            return future
        }
    }

    private func connect() -> EventLoopFuture<any Channel> {
        let timeout = self.timeout
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(RedisRESPDecoder()), RedisCommandHandler(timeout: timeout))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMapError { error -> EventLoopFuture<any Channel> in
                self.eventLoop.makeFailedFuture(RedisFlowStoreError.connectFailed("\(error)"))
            }
            .flatMap { channel in self.authenticate(on: channel) }
            .flatMap { channel in self.selectDatabase(on: channel) }
        connected.whenComplete { result in
            switch result {
            case .success(let channel):
                self.connectionOpened(channel)
            case .failure(let error):
                self.connectionFailed(error)
            }
        }
        return connected
    }

    /// `AUTH [username] password` first on every connection, when the URL has a password.
    private func authenticate(on channel: any Channel) -> EventLoopFuture<any Channel> {
        guard let password = endpoint.password else { return eventLoop.makeSucceededFuture(channel) }
        let promise = eventLoop.makePromise(of: RedisRESPValue.self)
        let arguments = ["AUTH"] + (endpoint.username.map { [$0] } ?? []) + [password]
        channel.writeAndFlush(RedisRequest(arguments: arguments, promise: promise), promise: nil)
        return promise.futureResult.flatMapThrowing { reply in
            guard reply == .simpleString("OK") else {
                channel.close(promise: nil)
                throw Self.failure(for: reply)
            }
            return channel
        }
    }

    private func selectDatabase(on channel: any Channel) -> EventLoopFuture<any Channel> {
        guard endpoint.database != 0 else { return eventLoop.makeSucceededFuture(channel) }
        let promise = eventLoop.makePromise(of: RedisRESPValue.self)
        channel.writeAndFlush(RedisRequest(arguments: ["SELECT", String(endpoint.database)], promise: promise), promise: nil)
        return promise.futureResult.flatMapThrowing { reply in
            guard reply == .simpleString("OK") else {
                channel.close(promise: nil)
                throw Self.failure(for: reply)
            }
            return channel
        }
    }

    private func connectionOpened(_ channel: any Channel) {
        if state.value.consecutiveFailures > 0 {
            logger.notice("flow store reachable again", metadata: ["redis": "\(endpoint.host):\(endpoint.port)"])
        }
        state.value.consecutiveFailures = 0
        state.value.phase = .connected(channel)
        channel.closeFuture.whenComplete { _ in
            if case .connected(let current) = self.state.value.phase, current === channel {
                self.state.value.phase = .idle
            }
        }
    }

    private func connectionFailed(_ error: any Error) {
        state.value.consecutiveFailures += 1
        let failures = state.value.consecutiveFailures
        if failures == 1 {
            logger.warning("flow store unreachable; retrying with backoff",
                           metadata: ["redis": "\(endpoint.host):\(endpoint.port)", "error": "\(error)"])
        }
        let backoff = min(.nanoseconds(Self.firstBackoff.nanoseconds << min(failures - 1, 6)), Self.longestBackoff)
        state.value.phase = .backingOff(until: .now() + backoff)
    }
}
