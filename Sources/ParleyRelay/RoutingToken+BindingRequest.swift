import ParleyRouting
import ParleyWire

extension RoutingToken {
    /// The routing token in the first part of a Binding request's USERNAME
    /// (`serverUfrag:clientUfrag`, RFC 8445 §7.2.2), read in place at `username` (the range
    /// `STUNPeek.username(in:)` found) and verified under `keyring`; nil when it does not
    /// verify. The same check admits a UDP flow and an ICE-TCP connection.
    static func verify(usernameOf datagram: UnsafeRawBufferPointer, at username: Range<Int>,
                       keyring: RoutingKeyring) -> RoutingToken? {
        let value = UnsafeRawBufferPointer(rebasing: datagram[username])
        let ufragEnd = value.firstIndex(of: UInt8(ascii: ":")) ?? value.endIndex
        return verify(UnsafeRawBufferPointer(rebasing: value[..<ufragEnd]), keyring: keyring)
    }
}
