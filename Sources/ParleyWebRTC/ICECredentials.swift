/// An ICE username fragment and password (RFC 8445 §5.3, RFC 8839 §5.4).
public struct ICECredentials: Sendable, Hashable {
    public var ufrag: String
    public var password: String

    public init(ufrag: String, password: String) {
        self.ufrag = ufrag
        self.password = password
    }

    /// The ice-chars of RFC 8839 §5.4: ALPHA, DIGIT, "+" and "/".
    public static let iceCharacters: [Character] =
        Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

    /// Fresh credentials from the system's secure generator: an 8-character ufrag (at least 4
    /// required) and a 24-character password (at least 22 required), RFC 8839 §5.4.
    public static func random() -> ICECredentials {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    /// Fresh credentials drawn from `generator`.
    public static func random(using generator: inout some RandomNumberGenerator) -> ICECredentials {
        func draw(_ count: Int) -> String {
            String((0..<count).map { _ in iceCharacters.randomElement(using: &generator) ?? "A" })
        }
        return ICECredentials(ufrag: draw(8), password: draw(24))
    }
}
