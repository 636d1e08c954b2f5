import NIOCore
import ParleyWire

#if canImport(Glibc)
import Glibc
#endif

extension PeerAddress {
    /// The IP and port of a NIO socket address; nil for Unix-domain addresses.
    public init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            self.init(ip: .v4(UInt32(bigEndian: v4.address.sin_addr.s_addr)),
                      port: UInt16(bigEndian: v4.address.sin_port))
        case .v6(let v6):
            let ip = withUnsafeBytes(of: v6.address.sin6_addr) { raw in
                IPv6Bytes(high: UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)),
                          low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
            self.init(ip: .v6(ip), port: UInt16(bigEndian: v6.address.sin6_port))
        case .unixDomainSocket:
            return nil
        }
    }

    /// This address as a NIO socket address, built without text parsing or DNS.
    public var socketAddress: SocketAddress {
        switch ip {
        case .v4(let value):
            var storage = sockaddr_in()
            storage.sin_family = sa_family_t(AF_INET)
            storage.sin_port = port.bigEndian
            storage.sin_addr.s_addr = value.bigEndian
            return SocketAddress(storage, host: "")
        case .v6(let value):
            var storage = sockaddr_in6()
            storage.sin6_family = sa_family_t(AF_INET6)
            storage.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &storage.sin6_addr) { raw in
                raw.storeBytes(of: value.high.bigEndian, as: UInt64.self)
                raw.storeBytes(of: value.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            return SocketAddress(storage, host: "")
        }
    }
}

extension Instant {
    /// The event loop's monotonic clock as an `Instant`.
    public static var now: Instant {
        Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds))
    }

    public var nioDeadline: NIODeadline {
        .uptimeNanoseconds(UInt64(max(0, nanoseconds)))
    }
}
