import NIOCore

/// Hands every datagram a channel reads to `read`, on the channel's event loop, and tells
/// `readComplete` when a batch of reads ended (so writes made meanwhile can leave together).
public final class DatagramHandler: ChannelInboundHandler {
    public typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let read: (AddressedEnvelope<ByteBuffer>) -> Void
    private let readComplete: () -> Void

    public init(read: @escaping (AddressedEnvelope<ByteBuffer>) -> Void, readComplete: @escaping () -> Void = {}) {
        self.read = read
        self.readComplete = readComplete
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        read(unwrapInboundIn(data))
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        readComplete()
    }
}
