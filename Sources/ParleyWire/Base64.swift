/// Standard base64 (RFC 4648 §4). Without padding its 64 symbols `A-Z a-z 0-9 + /` are
/// exactly RFC 8839 §5.4 ice-chars, so an encoded routing token is a valid ICE ufrag as it
/// stands; with padding it is the `base64` of SDP attribute values (RFC 8866 §9).
package enum Base64 {
    private static let symbols: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// Encodes without padding: `ceil(4 * count / 3)` characters.
    package static func encode(_ bytes: UnsafeRawBufferPointer) -> String {
        var text = ""
        text.reserveCapacity((bytes.count * 4 + 2) / 3)
        symbols.withUTF8Buffer { alphabet in
            var index = 0
            while index < bytes.count {
                let b0 = UInt32(bytes[index])
                let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
                let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
                let group = b0 << 16 | b1 << 8 | b2
                let remaining = bytes.count - index
                let characters = remaining >= 3 ? 4 : remaining + 1
                for position in 0..<characters {
                    let sextet = Int(group >> (18 - 6 * position) & 0x3F)
                    text.unicodeScalars.append(Unicode.Scalar(alphabet[sextet]))
                }
                index += 3
            }
        }
        return text
    }

    /// The 6-bit value of one symbol, or nil for any other byte.
    @inline(__always)
    static func value(of symbol: UInt8) -> UInt8? {
        switch symbol {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return symbol - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return symbol - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return symbol - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }

    package enum DecodeError: Error, Equatable {
        /// A length no encoding has: 4k+1 characters, or, padded, not a multiple of 4.
        case impossibleLength
        /// The byte at this offset is not one of the 64 symbols.
        case invalidSymbol(offset: Int)
        /// The last symbol carries bits beyond the final byte that are not zero (RFC 4648 §3.5).
        case nonZeroTrailingBits
    }

    /// The number of bytes `count` unpadded characters decode to, or nil when no whole number.
    package static func decodedLength(ofCharacters count: Int) -> Int? {
        count % 4 == 1 ? nil : count / 4 * 3 + max(0, count % 4 - 1)
    }

    /// Decodes unpadded, canonical base64 from `text` into the start of `output`, which must
    /// hold `decodedLength(ofCharacters: text.count)` bytes. Never allocates.
    package static func decode(_ text: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Result<Int, DecodeError> {
        guard let length = decodedLength(ofCharacters: text.count), output.count >= length else {
            return .failure(.impossibleLength)
        }
        var accumulator: UInt32 = 0
        var bits = 0
        var written = 0
        for offset in 0..<text.count {
            guard let sextet = value(of: text[offset]) else { return .failure(.invalidSymbol(offset: offset)) }
            accumulator = accumulator << 6 | UInt32(sextet)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output[written] = UInt8(truncatingIfNeeded: accumulator >> UInt32(bits))
                written += 1
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        guard accumulator == 0 else { return .failure(.nonZeroTrailingBits) }
        return .success(written)
    }

    /// Decodes standard base64 that may end in `=` padding (for key secrets typed by people).
    package static func decodePadded(_ text: some Collection<UInt8>) -> [UInt8]? {
        var symbols = Array(text)
        while symbols.last == UInt8(ascii: "=") { symbols.removeLast() }
        guard !symbols.isEmpty, case .success(let bytes) = decodeUnpadded(symbols) else { return nil }
        return bytes
    }

    /// `decode` into a new array of the right length.
    private static func decodeUnpadded(_ symbols: [UInt8]) -> Result<[UInt8], DecodeError> {
        guard let length = decodedLength(ofCharacters: symbols.count) else { return .failure(.impossibleLength) }
        var output = [UInt8](repeating: 0, count: length)
        let result = symbols.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { decode(input, into: $0) }
        }
        return result.map { _ in output }
    }

    /// Encodes with `=` padding to a multiple of 4 characters (RFC 4648 §4).
    package static func encodePadded(_ bytes: [UInt8]) -> String {
        var text = bytes.withUnsafeBytes { encode($0) }
        text.append(String(repeating: "=", count: (3 - bytes.count % 3) % 3))
        return text
    }

    /// Decodes padded base64 exactly as RFC 4648 §4 writes it, the `base64` grammar of SDP
    /// (RFC 8866 §9): a multiple of 4 characters, `=` only as the one or two final ones, and
    /// zero bits after the last byte.
    package static func decodeCanonical(_ text: some Collection<UInt8>) -> Result<[UInt8], DecodeError> {
        var symbols = Array(text)
        guard symbols.count % 4 == 0 else { return .failure(.impossibleLength) }
        var padding = 0
        while padding < 2, symbols.last == UInt8(ascii: "=") {
            symbols.removeLast()
            padding += 1
        }
        return decodeUnpadded(symbols)
    }
}
