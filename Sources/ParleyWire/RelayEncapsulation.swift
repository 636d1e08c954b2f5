/// The header a relay puts before a client's datagram toward a transceiver, and a transceiver
/// before its reply toward the relay, so the client's address travels with every packet.
///
/// Layout (docs/relay-encapsulation.md), big-endian:
/// marker `0xFA` (1), `version<<4 | transport<<3 | family` with family 4 or 6 and the
/// transport bit set for a client on an ICE-TCP connection (RFC 6544) (1), client port (2),
/// client address (4 or 16), then the client's datagram (or RFC 4571 frame, without its
/// length) unchanged. IPv4 headers are 8 bytes, IPv6 headers 20.
///
/// The marker lies in 192–255, which RFC 7983 §7 leaves unassigned for WebRTC's STUN (0–3),
/// ZRTP (16–19), DTLS (20–63), TURN channels (64–79) and RTP/RTCP (128–191), so a transceiver
/// socket can take relayed and direct packets alike and tell them apart by the first byte.
/// RFC 9443 gives 192–255 to QUIC long headers, which never share a WebRTC media socket.
public enum RelayEncapsulation {
    /// The first byte of every encapsulated datagram.
    public static let marker: UInt8 = 0xFA
    /// The header version this build writes and accepts.
    public static let version: UInt8 = 1
    /// The longest header (IPv6 client).
    public static let maximumHeaderLength = 20
    /// The bit of the second byte that marks a TCP client. Family values are 4 and 6, so the
    /// bit is free in both; a reader that predates it sees family 12 or 14 and rejects the
    /// header, so a TCP client's datagram is dropped there rather than sent over UDP.
    public static let tcpFlag: UInt8 = 0x08

    /// 8 for an IPv4 client, 20 for IPv6.
    public static func headerLength(for client: PeerAddress) -> Int {
        client.ip.isIPv4 ? 8 : 20
    }

    /// Writes the header for `client`, reached over `transport`, at the start of `buffer`;
    /// returns the bytes written, or 0 when `buffer` is shorter than `headerLength(for:)`.
    public static func writeHeader(client: PeerAddress, transport: ClientTransport = .udp,
                                   into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let length = headerLength(for: client)
        guard buffer.count >= length else { return 0 }
        let transportBits = transport == .tcp ? tcpFlag : 0
        buffer[0] = marker
        buffer[2] = UInt8(client.port >> 8)
        buffer[3] = UInt8(truncatingIfNeeded: client.port)
        switch client.ip {
        case .v4(let address):
            buffer[1] = version << 4 | transportBits | 4
            store(address, into: buffer, at: 4)
        case .v6(let address):
            buffer[1] = version << 4 | transportBits | 6
            store(address.high, into: buffer, at: 4)
            store(address.low, into: buffer, at: 12)
        }
        return length
    }

    /// `payload` behind the header for `client`, reached over `transport`.
    public static func encapsulate(_ payload: [UInt8], client: PeerAddress, transport: ClientTransport = .udp) -> [UInt8] {
        let length = headerLength(for: client)
        return [UInt8](unsafeUninitializedCapacity: length + payload.count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            _ = writeHeader(client: client, transport: transport, into: raw)
            payload.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: raw[length...]).copyMemory(from: source)
            }
            initialized = length + payload.count
        }
    }

    /// Reads the header in place: the client's address, its transport and where its datagram
    /// starts (which may be the end, for an empty datagram). Nil when the marker, version or
    /// family is wrong or the datagram is shorter than its header.
    public static func parse(_ datagram: UnsafeRawBufferPointer)
        -> (client: PeerAddress, transport: ClientTransport, payloadOffset: Int)? {
        guard datagram.count >= 8, datagram[0] == marker, datagram[1] >> 4 == version else { return nil }
        let port = UInt16(datagram[2]) << 8 | UInt16(datagram[3])
        let transport: ClientTransport = datagram[1] & tcpFlag == 0 ? .udp : .tcp
        switch datagram[1] & 0x0F & ~tcpFlag {
        case 4:
            let address: UInt32 = load(from: datagram, at: 4)
            return (PeerAddress(ip: .v4(address), port: port), transport, 8)
        case 6:
            guard datagram.count >= 20 else { return nil }
            let address = IPv6Bytes(high: load(from: datagram, at: 4), low: load(from: datagram, at: 12))
            return (PeerAddress(ip: .v6(address), port: port), transport, 20)
        default:
            return nil
        }
    }

    /// Reads the header of a datagram held in an array; see `parse(_:)` for raw bytes.
    public static func parse(_ datagram: [UInt8]) -> (client: PeerAddress, transport: ClientTransport, payload: ArraySlice<UInt8>)? {
        guard let (client, transport, offset) = datagram.withUnsafeBytes({ parse($0) }) else { return nil }
        return (client, transport, datagram[offset...])
    }

    private static func store<T: FixedWidthInteger>(_ value: T, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        for index in 0..<MemoryLayout<T>.size {
            buffer[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * (MemoryLayout<T>.size - 1 - index)))
        }
    }

    private static func load<T: FixedWidthInteger>(from buffer: UnsafeRawBufferPointer, at offset: Int) -> T {
        var value: T = 0
        for index in offset..<(offset + MemoryLayout<T>.size) {
            value = value << 8 | T(buffer[index])
        }
        return value
    }
}
