import NIOCore

/// A command on its way to Redis and the promise its reply completes.
struct RedisRequest: Sendable {
    var arguments: [String]
    var promise: EventLoopPromise<RedisRESPValue>
}

/// Splits the byte stream from Redis into RESP2 values.
struct RedisRESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = RedisRESPValue

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let parsed = try buffer.withUnsafeReadableBytes { try RedisRESP.parse($0) }
        guard let (value, length) = parsed else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: length)
        context.fireChannelRead(wrapInboundOut(value))
        return .continue
    }
}

/// Pipelines commands on one connection: replies arrive in request order (RESP2), so each
/// reply completes the oldest pending promise. A reply later than `timeout` fails every
/// pending command and closes the connection, since later replies could no longer be matched.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RedisRESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var promise: EventLoopPromise<RedisRESPValue>
        var deadline: Scheduled<Void>
    }

    private let timeout: TimeAmount
    private var pending = CircularBuffer<Pending>()
    private var isClosed = false

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        guard !isClosed, context.channel.isActive else {
            request.promise.fail(RedisFlowStoreError.connectionClosed)
            promise?.fail(RedisFlowStoreError.connectionClosed)
            return
        }
        let deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.failAll(RedisFlowStoreError.timedOut, context: context)
        }
        pending.append(Pending(promise: request.promise, deadline: deadline))
        let bytes = RedisRESP.encodeCommand(request.arguments)
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        guard let head = pending.popFirst() else {
            failAll(RedisFlowStoreError.unexpectedReply("a reply with no command pending"), context: context)
            return
        }
        head.deadline.cancel()
        head.promise.succeed(value)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        failPending(RedisFlowStoreError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let reason = (error as? RedisFlowStoreError) ?? .unexpectedReply("\(error)")
        failAll(reason, context: context)
    }

    private func failAll(_ error: RedisFlowStoreError, context: ChannelHandlerContext) {
        isClosed = true
        failPending(error)
        context.close(promise: nil)
    }

    private func failPending(_ error: RedisFlowStoreError) {
        while let head = pending.popFirst() {
            head.deadline.cancel()
            head.promise.fail(error)
        }
    }
}
