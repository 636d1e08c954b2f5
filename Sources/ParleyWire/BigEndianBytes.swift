/// A bounds-checked big-endian reader over a byte array, shared by the wire codecs.
///
/// Every read returns nil past `end` instead of trapping, so a parser turns short input into
/// a typed error rather than a crash.
package struct BigEndianReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int

    /// Reads `bytes[start..<end]`; `end` defaults to the array's end and is clamped to it.
    package init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.end = Swift.max(0, Swift.min(end ?? bytes.count, bytes.count))
        self.offset = Swift.max(0, Swift.min(start, self.end))
    }

    var remaining: Int { end - offset }

    package mutating func read<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { return nil }
        var value: T = 0
        for index in offset..<(offset + size) {
            value = value << 8 | T(bytes[index])
        }
        offset += size
        return value
    }

    mutating func readBytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    /// Moves past `count` bytes; false (and no move) when fewer remain.
    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, remaining >= count else { return false }
        offset += count
        return true
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` in network byte order (for the package's other codecs too).
    package mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        let size = MemoryLayout<T>.size
        for index in 0..<size {
            append(UInt8(truncatingIfNeeded: value >> (8 * (size - 1 - index))))
        }
    }

    /// Overwrites two bytes at `index` with `value` in network byte order; `index + 1` must be in range.
    mutating func setBigEndian(_ value: UInt16, at index: Int) {
        self[index] = UInt8(value >> 8)
        self[index + 1] = UInt8(truncatingIfNeeded: value)
    }

    /// Appends zero bytes until the count is a multiple of four.
    mutating func padToFourBytes() {
        while count % 4 != 0 { append(0) }
    }
}
