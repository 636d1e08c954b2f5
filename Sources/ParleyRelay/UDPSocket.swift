import CParleyLinux
import Glibc
import ParleyWire

/// Why a relay socket could not be set up.
public struct RelaySocketError: Error, CustomStringConvertible {
    public let operation: String
    public let address: PeerAddress
    public let errno: Int32

    public var description: String {
        "\(operation) \(address): \(String(cString: strerror(errno)))"
    }
}

/// A non-blocking UDP socket the relay owns as a plain file descriptor: the hot path reads and
/// writes it with recvmmsg/sendmmsg on one thread, with no event loop in between.
struct UDPSocket: Sendable {
    let descriptor: Int32
    /// The bound address (with the kernel's port when bound to port 0).
    let localAddress: PeerAddress
    /// The receive and send buffer sizes the kernel granted (SO_RCVBUF/SO_SNDBUF as read
    /// back: Linux reports twice what it allows for data, capped by net.core.{r,w}mem_max).
    let grantedBufferBytes: (receive: Int32, send: Int32)

    /// A socket bound to `address`; with `reusePort`, others may bind the same port and the
    /// kernel spreads datagrams among them by flow hash (SO_REUSEPORT).
    init(binding address: PeerAddress, reusePort: Bool, bufferBytes: Int32 = 4 << 20) throws(RelaySocketError) {
        let fd = socket(address.socketFamily, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RelaySocketError(operation: "socket", address: address, errno: errno) }
        func fail(_ operation: String) -> RelaySocketError {
            let error = RelaySocketError(operation: operation, address: address, errno: errno)
            Glibc.close(fd)
            return error
        }
        var one: Int32 = 1
        var buffer = bufferBytes
        let size = socklen_t(MemoryLayout<Int32>.size)
        if reusePort, setsockopt(fd, SOL_SOCKET, parley_so_reuseport(), &one, size) != 0 { throw fail("SO_REUSEPORT") }
        if address.socketFamily == AF_INET6, setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, size) != 0 {
            throw fail("IPV6_V6ONLY")
        }
        // Best effort: the kernel caps these at net.core.{r,w}mem_max.
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, size)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, size)
        var storage = sockaddr_storage()
        let length = address.write(to: &storage)
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard bound == 0 else { throw fail("bind") }
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        guard named == 0, let local = PeerAddress(sockaddr: &actual) else { throw fail("getsockname") }
        var granted = (receive: Int32(0), send: Int32(0))
        var grantedLength = size
        _ = getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted.receive, &grantedLength)
        grantedLength = size
        _ = getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &granted.send, &grantedLength)
        descriptor = fd
        localAddress = local
        grantedBufferBytes = granted
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}
