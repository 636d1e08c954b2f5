import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import HTTPTypes
import Logging
import NIOCore
import ParleyAgent
import ParleyNIO
import ParleyWire
import Synchronization

/// The signaling port's connection limits, in front of Hummingbird's HTTP/1.1 pipeline: the
/// connection cap and the first request head's deadline (`HTTPConnectionLedger`), which
/// Hummingbird 2 lacks (its idle timeout starts only after the first request, and its
/// connection limit stops accepting, leaving newcomers unanswered in the listen backlog).
///
/// One guard serves every connection of the listener, on whichever event loop each runs;
/// the ledger is shared under a lock, touched when a connection opens, sends its head or
/// closes: never per byte once the head has arrived.
final class HTTPConnectionGuard: Sendable {
    private struct State {
        var ledger: HTTPConnectionLedger
        var channels: [UInt64: any Channel] = [:]
        var nextID: UInt64 = 0
    }

    /// What an evicted connection's handler is told (a user event), on its own loop.
    struct Evicted {}

    private let state: Mutex<State>
    private let metrics: TransceiverMetrics
    private let logger: Logger
    let limits: HTTPConnectionLedger.Limits

    init(limits: HTTPConnectionLedger.Limits, metrics: TransceiverMetrics, logger: Logger) {
        self.limits = limits
        state = Mutex(State(ledger: HTTPConnectionLedger(limits: limits)))
        self.metrics = metrics
        self.logger = logger
    }

    /// Hummingbird's HTTP/1.1 channel (with the sideband's WebSocket upgrade) behind this guard.
    func serverBuilder(configuration: HTTP1WebSocketUpgradeChannel.Configuration,
                       shouldUpgrade: @escaping @Sendable (HTTPRequest, any Channel, Logger) async throws
                           -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>>) -> HTTPServerBuilder {
        .init { responder in
            GuardedChildChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, configuration: configuration, shouldUpgrade: shouldUpgrade),
                guard: self)
        }
    }

    fileprivate func open(_ channel: any Channel, now: Instant) -> (id: UInt64, admitted: Bool) {
        let (id, admission, evictedChannel, count) = state.withLock { state in
            state.nextID += 1
            let id = state.nextID
            let admission = state.ledger.open(id, now: now)
            var evicted: (any Channel)?
            if case .admittedEvicting(let old) = admission { evicted = state.channels.removeValue(forKey: old) }
            if admission != .refused { state.channels[id] = channel }
            return (id, admission, evicted, state.ledger.openConnections)
        }
        metrics.httpConnections.set(Int64(count))
        switch admission {
        case .admitted:
            return (id, true)
        case .admittedEvicting:
            evictedChannel?.pipeline.fireUserInboundEventTriggered(Evicted())
            return (id, true)
        case .refused:
            metrics.httpRejected("connection_limit")
            logger.info("signaling connection refused", metadata: [
                "reason": "connection_limit", "limit": "\(limits.maxConnections)", "remote": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
            return (id, false)
        }
    }

    fileprivate func receivedHead(_ id: UInt64) {
        state.withLock { $0.ledger.receivedHead(id) }
    }

    fileprivate func closed(_ id: UInt64) {
        let count = state.withLock { state in
            state.ledger.closed(id)
            state.channels[id] = nil
            return state.ledger.openConnections
        }
        metrics.httpConnections.set(Int64(count))
    }

    fileprivate func headerDeadline(of id: UInt64) -> Instant? {
        state.withLock { $0.ledger.headerDeadline(of: id) }
    }

    fileprivate func rejected(_ reason: String, channel: any Channel) {
        metrics.httpRejected(reason)
        logger.info("signaling connection closed", metadata: [
            "reason": "\(reason)", "remote": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
    }

    /// A complete HTTP/1.1 response that closes the connection, with the API's JSON error
    /// body, for a connection that never reached the router (RFC 9112 §9.6: `Connection: close`).
    static func closingResponse(status: String, code: String, message: String, retryAfter: Int? = nil) -> ByteBuffer {
        var body = SignalingAPI.encode(["error": ["code": .string(code), "message": .string(message)]])
        body.append(0x0A)
        var head = "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        head += "Access-Control-Allow-Origin: *\r\nConnection: close\r\n"
        if let retryAfter { head += "Retry-After: \(retryAfter)\r\n" }
        var buffer = ByteBuffer(string: head + "\r\n")
        buffer.writeBytes(body)
        return buffer
    }
}

/// Hummingbird's child channel with an `HTTPConnectionGuardHandler` first in its pipeline.
private struct GuardedChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let `guard`: HTTPConnectionGuard

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(HTTPConnectionGuardHandler(guard: `guard`), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// One connection's side of the guard: admits or refuses it when it opens, watches its
/// bytes until the first request head has ended, and answers 408 and closes when that head
/// is late or the connection's slot is taken by a newcomer. After the head it only passes
/// bytes on.
private final class HTTPConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How long a refused connection may go on sending before it is closed: the 503 is sent
    /// and the write side shut first, so a client that already sent its request reads the
    /// answer instead of a reset.
    static let refusalLinger: TimeAmount = .seconds(1)

    private enum State {
        case awaitingHead(HTTPHeadScanner)
        case passing
        /// Answered and closing: whatever arrives is discarded.
        case closing
    }

    private let `guard`: HTTPConnectionGuard
    private var id: UInt64?
    private var state = State.closing
    private var deadline: Scheduled<Void>?

    init(guard: HTTPConnectionGuard) {
        self.guard = `guard`
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let (id, admitted) = `guard`.open(context.channel, now: .now)
        self.id = id
        guard admitted else {
            let limit = `guard`.limits.maxConnections
            return answerAndClose(context: context, HTTPConnectionGuard.closingResponse(
                status: "503 Service Unavailable", code: "too_many_connections",
                message: "this transceiver has \(limit) signaling connections open, its limit; retry shortly", retryAfter: 1))
        }
        state = .awaitingHead(HTTPHeadScanner())
        if let due = `guard`.headerDeadline(of: id) {
            let loop = context.eventLoop
            let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
            deadline = loop.scheduleTask(in: .nanoseconds(max(0, (due - .now).nanosecondsRounded))) {
                bound.value.handler.headerTimedOut(context: bound.value.context)
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        if let id { `guard`.closed(id) }
        id = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        if let id { `guard`.closed(id) }
        id = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .passing:
            context.fireChannelRead(data)
        case .closing:
            return
        case .awaitingHead(var scanner):
            let bytes = unwrapInboundIn(data)
            if scanner.scan(bytes.readableBytesView) {
                state = .passing
                deadline?.cancel()
                deadline = nil
                if let id { `guard`.receivedHead(id) }
            } else {
                state = .awaitingHead(scanner)
            }
            context.fireChannelRead(data)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is HTTPConnectionGuard.Evicted else { return context.fireUserInboundEventTriggered(event) }
        guard case .awaitingHead = state else { return }
        `guard`.rejected("evicted", channel: context.channel)
        answerAndClose(context: context, HTTPConnectionGuard.closingResponse(
            status: "408 Request Timeout", code: "request_timeout",
            message: "the request head did not arrive before a new connection needed this one's place"))
    }

    private func headerTimedOut(context: ChannelHandlerContext) {
        deadline = nil
        guard case .awaitingHead = state else { return }
        `guard`.rejected("header_timeout", channel: context.channel)
        answerAndClose(context: context, HTTPConnectionGuard.closingResponse(
            status: "408 Request Timeout", code: "request_timeout",
            message: "the request head did not arrive within \(`guard`.limits.headerTimeout)"))
    }

    /// Writes `response`, shuts the write side, and closes after `refusalLinger` (or sooner,
    /// when the client closes).
    private func answerAndClose(context: ChannelHandlerContext, _ response: ByteBuffer) {
        state = .closing
        deadline?.cancel()
        deadline = nil
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(response)).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
        channel.eventLoop.scheduleTask(in: Self.refusalLinger) { channel.close(promise: nil) }
    }
}
