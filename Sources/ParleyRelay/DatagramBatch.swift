import CParleyLinux
import Glibc
import ParleyWire

/// A worker's receive buffers, allocated once: `count` slots, each with `headroom` free bytes
/// before the datagram so an encapsulation header can be written in front of it in place.
/// Owned by one thread.
struct ReceiveBatch: ~Copyable {
    let count: Int
    let headroom: Int
    let capacity: Int
    private let slotSize: Int
    private let storage: UnsafeMutableRawPointer
    private let iovecs: UnsafeMutablePointer<iovec>
    private let names: UnsafeMutablePointer<sockaddr_storage>
    private let messages: UnsafeMutablePointer<parley_mmsghdr>

    init(count: Int, headroom: Int, capacity: Int) {
        self.count = count
        self.headroom = headroom
        self.capacity = capacity
        slotSize = (headroom + capacity + 63) & ~63
        storage = .allocate(byteCount: count * slotSize, alignment: 64)
        iovecs = .allocate(capacity: count)
        names = .allocate(capacity: count)
        messages = .allocate(capacity: count)
        for index in 0..<count {
            iovecs[index] = iovec(iov_base: storage + index * slotSize + headroom, iov_len: capacity)
            names[index] = sockaddr_storage()
            messages[index] = parley_mmsghdr(
                msg_hdr: msghdr(msg_name: UnsafeMutableRawPointer(names + index),
                                msg_namelen: socklen_t(MemoryLayout<sockaddr_storage>.size),
                                msg_iov: iovecs + index, msg_iovlen: 1,
                                msg_control: nil, msg_controllen: 0, msg_flags: 0),
                msg_len: 0)
        }
    }

    deinit {
        storage.deallocate()
        iovecs.deallocate()
        names.deallocate()
        messages.deallocate()
    }

    /// Receives up to `count` datagrams without blocking; returns how many (0 when none wait).
    func receive(from socket: Int32) -> Int {
        for index in 0..<count {
            messages[index].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
        }
        let received = parley_recvmmsg(socket, messages, UInt32(count), parley_msg_dontwait())
        return received > 0 ? Int(received) : 0
    }

    /// Where slot `index`'s datagram starts; `headroom` bytes before it are free.
    @inline(__always)
    func start(_ index: Int) -> UnsafeMutableRawPointer {
        storage + index * slotSize + headroom
    }

    /// The received length of slot `index`.
    @inline(__always)
    func length(_ index: Int) -> Int {
        Int(messages[index].msg_len)
    }

    /// Whether slot `index`'s datagram was cut to fit.
    @inline(__always)
    func isTruncated(_ index: Int) -> Bool {
        messages[index].msg_hdr.msg_flags & parley_msg_trunc() != 0
    }

    /// The sender of slot `index`.
    @inline(__always)
    func source(_ index: Int) -> PeerAddress? {
        PeerAddress(sockaddr: names + index)
    }
}

/// Datagrams queued for one socket, sent together with sendmmsg. Entries point into a
/// `ReceiveBatch`'s slots, so a queue is flushed before that batch receives again.
struct SendQueue: ~Copyable {
    let capacity: Int
    private(set) var count = 0
    private let iovecs: UnsafeMutablePointer<iovec>
    private let names: UnsafeMutablePointer<sockaddr_storage>
    private let messages: UnsafeMutablePointer<parley_mmsghdr>

    init(capacity: Int) {
        self.capacity = capacity
        iovecs = .allocate(capacity: capacity)
        names = .allocate(capacity: capacity)
        messages = .allocate(capacity: capacity)
        for index in 0..<capacity {
            iovecs[index] = iovec(iov_base: nil, iov_len: 0)
            names[index] = sockaddr_storage()
            messages[index] = parley_mmsghdr(
                msg_hdr: msghdr(msg_name: UnsafeMutableRawPointer(names + index), msg_namelen: 0,
                                msg_iov: iovecs + index, msg_iovlen: 1,
                                msg_control: nil, msg_controllen: 0, msg_flags: 0),
                msg_len: 0)
        }
    }

    deinit {
        iovecs.deallocate()
        names.deallocate()
        messages.deallocate()
    }

    /// Queues `length` bytes at `bytes` for `destination`; false when the queue is full.
    @inline(__always)
    mutating func append(_ bytes: UnsafeMutableRawPointer, length: Int, to destination: PeerAddress) -> Bool {
        guard count < capacity else { return false }
        iovecs[count] = iovec(iov_base: bytes, iov_len: length)
        messages[count].msg_hdr.msg_namelen = destination.write(to: names + count)
        count += 1
        return true
    }

    /// Sends everything queued; returns how many datagrams the kernel refused. A refusal of
    /// one datagram (unreachable, bad address) does not hold back the ones after it; a full
    /// send buffer drops the rest of the queue, as a congested UDP path would.
    mutating func flush(to socket: Int32) -> Int {
        var next = 0
        var refused = 0
        while next < count {
            let sent = parley_sendmmsg(socket, messages + next, UInt32(count - next), parley_msg_dontwait())
            if sent > 0 {
                next += Int(sent)
                continue
            }
            if sent < 0, errno == EINTR { continue }
            if sent < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS {
                refused += count - next
                break
            }
            refused += 1
            next += 1
        }
        count = 0
        return refused
    }
}
