import CParleyLinux
import Glibc
import ParleyWire

/// A non-blocking listening TCP socket the relay binds itself, so a port in use fails when
/// the relay is made (as its UDP sockets do), then hands to a TCP worker's event loop.
/// SO_REUSEPORT lets every TCP worker listen on the one public port: the kernel spreads new
/// connections among them by a hash of the 4-tuple.
struct TCPListenSocket: Sendable {
    let descriptor: Int32
    /// The bound address (with the kernel's port when bound to port 0).
    let localAddress: PeerAddress

    /// A socket bound to `address` and listening, with a queue of `backlog` connections the
    /// kernel completed and the worker has not taken yet.
    init(binding address: PeerAddress, backlog: Int32 = 1_024) throws(RelaySocketError) {
        let fd = socket(address.socketFamily, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RelaySocketError(operation: "socket", address: address, errno: errno) }
        func fail(_ operation: String) -> RelaySocketError {
            let error = RelaySocketError(operation: operation, address: address, errno: errno)
            Glibc.close(fd)
            return error
        }
        var one: Int32 = 1
        let size = socklen_t(MemoryLayout<Int32>.size)
        // SO_REUSEADDR: a restarted relay binds at once, with the old one's connections in TIME_WAIT.
        if setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, size) != 0 { throw fail("SO_REUSEADDR") }
        if setsockopt(fd, SOL_SOCKET, parley_so_reuseport(), &one, size) != 0 { throw fail("SO_REUSEPORT") }
        if address.socketFamily == AF_INET6, setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, size) != 0 {
            throw fail("IPV6_V6ONLY")
        }
        var storage = sockaddr_storage()
        let length = address.write(to: &storage)
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard bound == 0 else { throw fail("bind") }
        guard listen(fd, backlog) == 0 else { throw fail("listen") }
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        guard named == 0, let local = PeerAddress(sockaddr: &actual) else { throw fail("getsockname") }
        descriptor = fd
        localAddress = local
    }

    /// `address` itself, or for port 0 a TCP port no socket uses right now: as for UDP, the
    /// kernel's choice for a SO_REUSEPORT bind to port 0 could join another relay's group.
    static func claimPort(_ address: PeerAddress) throws(RelaySocketError) -> PeerAddress {
        guard address.port == 0 else { return address }
        let fd = socket(address.socketFamily, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RelaySocketError(operation: "socket", address: address, errno: errno) }
        defer { Glibc.close(fd) }
        var storage = sockaddr_storage()
        let length = address.write(to: &storage)
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard bound == 0 else { throw RelaySocketError(operation: "bind", address: address, errno: errno) }
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        guard named == 0, let local = PeerAddress(sockaddr: &actual) else {
            throw RelaySocketError(operation: "getsockname", address: address, errno: errno)
        }
        return local
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}
