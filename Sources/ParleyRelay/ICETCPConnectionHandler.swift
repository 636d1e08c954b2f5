import NIOCore

/// One ICE-TCP connection's pipeline end: hands what it reads to its worker, and tells the
/// worker when the connection is gone.
final class ICETCPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let id: RelayTCPConnectionID
    private let worker: RelayTCPWorker.State

    init(id: RelayTCPConnectionID, worker: RelayTCPWorker.State) {
        self.id = id
        self.worker = worker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        unwrapInboundIn(data).withUnsafeReadableBytes { worker.received($0, on: id) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        worker.flushInternal()
    }

    func channelInactive(context: ChannelHandlerContext) {
        worker.closed(id)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
