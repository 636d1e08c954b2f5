import NIOCore

/// The pipeline end of a TCP worker's internal UDP socket: replies from transceivers and peer
/// relays go to the worker, a read batch's end flushes the connections written to, and a
/// datagram the kernel refused is counted.
final class RelayTCPInternalHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let worker: RelayTCPWorker.State

    init(worker: RelayTCPWorker.State) {
        self.worker = worker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        worker.reply(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        worker.flushConnections()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        worker.sendFailed()
    }
}
