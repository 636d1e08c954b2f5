/// How a call hangs up in the middle of a run (`--call-lifetime`). Each way ends the
/// server's session by a different path, so a soak exercises all of them.
public enum HangUpStyle: String, Sendable, Codable, CaseIterable {
    /// `DELETE` of the call's `Location`, then RTCP BYE and DTLS close_notify.
    case delete
    /// RTCP BYE (RFC 3550 §6.6) and DTLS close_notify only, as a browser closing its
    /// peer connection does.
    case bye
    /// The socket closes with no word: the server ends the session when consent expires
    /// (RFC 7675 §5.1).
    case vanish

    /// The way call `index` hangs up: of every four calls, two `DELETE`, one says BYE and
    /// one vanishes.
    static func forCall(_ index: Int) -> HangUpStyle {
        switch index % 4 {
        case 1: .bye
        case 3: .vanish
        default: .delete
        }
    }
}
