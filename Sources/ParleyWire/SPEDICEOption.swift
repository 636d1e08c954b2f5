/// The ICE options (RFC 8839 §5.6) that negotiate SPED, DTLS embedded in STUN
/// (draft-hancke-webrtc-sped-00, "SDP Offer/Answer Procedures"): the draft's `sped`, and the
/// names libwebrtc used for it before and alongside the draft, `googspedv1` and `goog-sped-v1`.
public enum SPEDICEOption {
    /// The draft's option, which Parley's own offers carry.
    public static let draft = "sped"
    /// Every name that negotiates SPED, in the order an answer lists them.
    public static let names = [draft, "googspedv1", "goog-sped-v1"]

    /// The SPED options among `offered`, in `names` order: what an answer that accepts SPED
    /// carries, so every version of the offerer recognises its own name. Empty when the offer
    /// did not ask for SPED.
    public static func accepted(from offered: [String]) -> [String] {
        names.filter(offered.contains)
    }
}
