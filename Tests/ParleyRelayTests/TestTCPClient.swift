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

    /// Reads until `count` bytes arrived, the peer closed, or `timeout` passed.
    func receive(_ count: Int, timeout: Duration = .seconds(2)) async -> [UInt8] {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        while received.count < count, ContinuousClock.now < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 0) > 0 else {
                try? await Task.sleep(for: .milliseconds(2))
                continue
            }
            var buffer = [UInt8](repeating: 0, count: count - received.count)
            let read = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard read > 0 else { break }
            received += buffer[..<read]
        }
        return received
    }

    /// The next RFC 4571 frame's payload, or nil when none arrives in time.
    func receiveFrame(timeout: Duration = .seconds(2)) async -> [UInt8]? {
        let header = await receive(2, timeout: timeout)
        guard header.count == 2 else { return nil }
        let length = Int(header[0]) << 8 | Int(header[1])
        let payload = await receive(length, timeout: timeout)
        return payload.count == length ? payload : nil
    }

    /// True once the peer has closed the connection (a read returns 0 or fails) within
    /// `timeout`; every byte read before that is returned in `bytesBeforeClose`.
    func waitForClose(timeout: Duration = .seconds(2)) async -> (closed: Bool, bytesBeforeClose: Int) {
        let deadline = ContinuousClock.now + timeout
        var bytes = 0
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 0) > 0 else {
                try? await Task.sleep(for: .milliseconds(2))
                continue
            }
            var buffer = [UInt8](repeating: 0, count: 512)
            let read = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard read > 0 else { return (true, bytes) }
            bytes += read
        }
        return (false, bytes)
    }
}
