/// Character classes and small checks from the RFC 8866 §9 and RFC 8839 §5 grammars.
enum SDPSyntax {
    /// RFC 8866 §9 `token-char`: visible ASCII except `"` `(` `)` `,` `/` `:` `;` `<` `=` `>` `?` `@` `[` `\` `]`.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x21, 0x23...0x27, 0x2A...0x2B, 0x2D...0x2E, 0x30...0x39, 0x41...0x5A, 0x5E...0x7E:
            return true
        default:
            return false
        }
    }

    /// RFC 8866 §9 `token`: one or more token characters.
    static func isToken(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy(isTokenByte)
    }

    /// RFC 8866 §9 `proto`: `token *("/" token)`, e.g. `UDP/TLS/RTP/SAVPF`.
    static func isProto(_ text: some StringProtocol) -> Bool {
        text.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { isToken($0) }
    }

    /// RFC 8839 §5.4 `ice-char`: ALPHA / DIGIT / "+" / "/".
    static func isICEChars(_ text: some StringProtocol) -> Bool {
        text.utf8.allSatisfy { byte in
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2B, 0x2F: return true
            default: return false
            }
        }
    }

    static func isDigits(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { (0x30...0x39).contains($0) }
    }

    /// Splits on runs of spaces: RFC 8866 asks for single spaces, but senders are forgiven extra ones.
    static func fields(_ text: some StringProtocol) -> [Substring] {
        Substring(text).split(separator: " ")
    }

    /// A short, printable excerpt of hostile input for error messages.
    static func excerpt(_ text: some StringProtocol) -> String {
        let limit = 40
        let scalars = String(text).unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" }
        let kept = String(scalars.prefix(limit))
        return scalars.count > limit ? "'\(kept)...'" : "'\(kept)'"
    }
}
