import NIOCore
import ParleyWire

/// The NIO socket address of the peer a call last sent to. Building a `SocketAddress`
/// allocates, and a call's datagrams nearly always go to one place, so runtimes keep one of
/// these per call instead of converting on every send.
public struct SocketAddressCache {
    private var last: (peer: PeerAddress, socket: SocketAddress)?

    public init() {}

    public mutating func socketAddress(for peer: PeerAddress) -> SocketAddress {
        if let last, last.peer == peer { return last.socket }
        let socket = peer.socketAddress
        last = (peer, socket)
        return socket
    }
}
