import Foundation
import Glibc
import ParleyWire

/// A plain blocking-with-timeout UDP socket on loopback, standing in for a client, a
/// transceiver or a peer relay in tests.
final class TestUDPSocket: @unchecked Sendable {
    let descriptor: Int32
    let address: PeerAddress

    init(_ bindAddress: String = "127.0.0.1:0") {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        descriptor = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let requested = PeerAddress(bindAddress)
        address.sin_port = (requested?.port ?? 0).bigEndian
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.address = PeerAddress(ip: .v4(UInt32(bigEndian: bound.sin_addr.s_addr)), port: UInt16(bigEndian: bound.sin_port))
    }

    deinit {
        close(descriptor)
    }

    func send(_ bytes: [UInt8], to destination: PeerAddress) {
        guard case .v4(let ip) = destination.ip else { return }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = ip.bigEndian
        address.sin_port = destination.port.bigEndian
        _ = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// The next datagram and its sender, or nil when none arrives within `timeout`. Waits by
    /// sleeping between non-blocking polls, so concurrent tests keep the shared executor.
    func receive(timeout: Duration = .milliseconds(1_000)) async -> (bytes: [UInt8], source: PeerAddress)? {
        let deadline = ContinuousClock.now + timeout
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while poll(&poller, 1, 0) <= 0 {
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return read()
    }

    /// `receive(timeout:)` for code on its own thread: blocks in poll.
    func receiveBlocking(timeout: Duration = .milliseconds(1_000)) -> (bytes: [UInt8], source: PeerAddress)? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout.nanosecondsRounded / 1_000_000)) > 0 else { return nil }
        return read()
    }

    private func read() -> (bytes: [UInt8], source: PeerAddress)? {
        var buffer = [UInt8](repeating: 0, count: 4_096)
        var source = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let count = buffer.withUnsafeMutableBytes { bytes in
            withUnsafeMutablePointer(to: &source) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(descriptor, bytes.baseAddress, bytes.count, 0, $0, &length)
                }
            }
        }
        guard count >= 0 else { return nil }
        let sender = PeerAddress(ip: .v4(UInt32(bigEndian: source.sin_addr.s_addr)), port: UInt16(bigEndian: source.sin_port))
        return (Array(buffer[0..<count]), sender)
    }

    /// True when nothing arrives within `timeout`.
    func staysSilent(for timeout: Duration = .milliseconds(300)) async -> Bool {
        await receive(timeout: timeout) == nil
    }
}

/// Runs `body` on a thread of its own and returns its result: for steps that must keep to
/// real time even while concurrent tests keep the shared executor busy.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}
