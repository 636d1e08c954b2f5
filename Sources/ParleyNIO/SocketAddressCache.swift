import NIOCore
import ParleyWire

/// NIO socket addresses of the peers a driver sends to. Building a `SocketAddress` allocates,
/// and a socket's datagrams go to few places (its relays, or its clients), so the driver
/// keeps the ones it made instead of converting on every send. Bounded: when full it starts
/// over.
public struct SocketAddressCache {
    /// Entries kept before the cache starts over.
    public static let capacity = 4_096

    private var last: (peer: PeerAddress, socket: SocketAddress)?
    private var made: [PeerAddress: SocketAddress] = [:]

    public init() {}

    public mutating func socketAddress(for peer: PeerAddress) -> SocketAddress {
        if let last, last.peer == peer { return last.socket }
        let socket: SocketAddress
        if let known = made[peer] {
            socket = known
        } else {
            if made.count >= Self.capacity { made.removeAll(keepingCapacity: true) }
            socket = peer.socketAddress
            made[peer] = socket
        }
        last = (peer, socket)
        return socket
    }
}
