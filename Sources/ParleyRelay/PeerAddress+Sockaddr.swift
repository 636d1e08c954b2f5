import Glibc
import ParleyWire

extension PeerAddress {
    /// Reads an AF_INET or AF_INET6 socket address without allocating; nil for other families.
    @inline(__always)
    init?(sockaddr storage: UnsafePointer<sockaddr_storage>) {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let address = UnsafeRawPointer(storage).assumingMemoryBound(to: sockaddr_in.self).pointee
            self.init(ip: .v4(UInt32(bigEndian: address.sin_addr.s_addr)), port: UInt16(bigEndian: address.sin_port))
        case AF_INET6:
            let raw = UnsafeRawPointer(storage)
            let port = raw.loadUnaligned(fromByteOffset: SockaddrIn6Layout.port, as: UInt16.self)
            let addressOffset = SockaddrIn6Layout.address
            let high = raw.loadUnaligned(fromByteOffset: addressOffset, as: UInt64.self)
            let low = raw.loadUnaligned(fromByteOffset: addressOffset + 8, as: UInt64.self)
            self.init(ip: .v6(IPv6Bytes(high: UInt64(bigEndian: high), low: UInt64(bigEndian: low))),
                      port: UInt16(bigEndian: port))
        default:
            return nil
        }
    }

    /// The socket address family this address needs.
    var socketFamily: Int32 {
        ip.isIPv4 ? AF_INET : AF_INET6
    }

    /// Writes this address as a sockaddr_in or sockaddr_in6 and returns its length.
    @inline(__always)
    func write(to storage: UnsafeMutablePointer<sockaddr_storage>) -> socklen_t {
        let raw = UnsafeMutableRawPointer(storage)
        switch ip {
        case .v4(let value):
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = value.bigEndian
            raw.storeBytes(of: address, as: sockaddr_in.self)
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        case .v6(let value):
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            raw.storeBytes(of: address, as: sockaddr_in6.self)
            let addressOffset = SockaddrIn6Layout.address
            raw.storeBytes(of: value.high.bigEndian, toByteOffset: addressOffset, as: UInt64.self)
            raw.storeBytes(of: value.low.bigEndian, toByteOffset: addressOffset + 8, as: UInt64.self)
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
    }
}

/// Byte offsets inside sockaddr_in6 (Linux: port at 2, address at 8).
private enum SockaddrIn6Layout {
    static let port = MemoryLayout<sockaddr_in6>.offset(of: \.sin6_port) ?? 2
    static let address = MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr) ?? 8
}
