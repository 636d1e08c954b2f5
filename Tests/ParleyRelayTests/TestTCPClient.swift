import Foundation
import Glibc
import ParleyWire

/// A plain TCP client on loopback standing in for an ICE-TCP peer in tests: RFC 4571 frames
/// out, bytes in, with timeouts.
final class TestTCPClient: @unchecked Sendable {
    let descriptor: Int32
    private(set) var address = PeerAddress(ip: .v4(0), port: 0)

    /// A connected socket; `receiveBuffer` (SO_RCVBUF, set before connecting) shrinks the
    /// window the client offers.
    init(connectingTo server: PeerAddress, receiveBuffer: Int32? = nil) {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {
            _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        guard case .v4(let ip) = server.ip else { return }
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_addr.s_addr = ip.bigEndian
        remote.sin_port = server.port.bigEndian
        _ = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        address = PeerAddress(ip: .v4(UInt32(bigEndian: local.sin_addr.s_addr)), port: UInt16(bigEndian: local.sin_port))
    }

    deinit {
        close(descriptor)
    }

    /// Sends `bytes` as they are (framing is the caller's: `RFC4571Framing.frame`).
    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads until `count` bytes arrived, the peer closed, or `timeout` passed. Blocks: call
    /// it on a thread of its own (`onOwnThread`), as the steps of a test that must keep to
    /// real time while other suites keep the shared executor busy.
    func receive(_ count: Int, timeout: Duration = .seconds(2)) -> [UInt8] {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        while received.count < count {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(max(1, left.nanosecondsRounded / 1_000_000))) > 0 else { break }
            var buffer = [UInt8](repeating: 0, count: count - received.count)
            let read = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard read > 0 else { break }
            received += buffer[..<read]
        }
        return received
    }

    /// The next RFC 4571 frame's payload, or nil when none arrives in time. Blocks.
    func receiveFrame(timeout: Duration = .seconds(2)) -> [UInt8]? {
        let header = receive(2, timeout: timeout)
        guard header.count == 2 else { return nil }
        let length = Int(header[0]) << 8 | Int(header[1])
        let payload = receive(length, timeout: timeout)
        return payload.count == length ? payload : nil
    }

    /// Whether the peer closed the connection (a read returns 0 or fails) within `timeout`,
    /// and how many bytes were read before that. Blocks.
    func waitForClose(timeout: Duration = .seconds(2)) -> (closed: Bool, bytesBeforeClose: Int) {
        let deadline = ContinuousClock.now + timeout
        var bytes = 0
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return (false, bytes) }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(max(1, left.nanosecondsRounded / 1_000_000))) > 0 else { return (false, bytes) }
            var buffer = [UInt8](repeating: 0, count: 512)
            let read = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard read > 0 else { return (true, bytes) }
            bytes += read
        }
    }
}
