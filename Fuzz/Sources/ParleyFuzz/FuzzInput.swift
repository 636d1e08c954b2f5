/// The fuzzer's bytes read as a program: small integers pick operations and lengths, the
/// rest is data. Reads past the end return zeros and empty arrays, so every input is a
/// complete program and libFuzzer's mutations stay meaningful.
struct FuzzInput {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var isEmpty: Bool { offset >= bytes.count }

    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bool() -> Bool { byte() & 1 == 1 }

    mutating func uint16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    mutating func uint32() -> UInt32 { UInt32(uint16()) << 16 | UInt32(uint16()) }

    /// A value in `0..<count` (0 when `count` is 0).
    mutating func choose(_ count: Int) -> Int {
        count > 0 ? Int(byte()) % count : 0
    }

    /// `count` bytes, or what is left.
    mutating func take(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, offset + max(0, count))
        defer { offset = max(offset, end) }
        return offset < end ? Array(bytes[offset..<end]) : []
    }

    /// A chunk whose length is given by the next two bytes (at most `limit`).
    mutating func chunk(limit: Int = 2_048) -> [UInt8] {
        take(Int(uint16()) % (limit + 1))
    }

    /// Everything not read yet.
    mutating func rest() -> [UInt8] {
        take(bytes.count - offset)
    }
}

/// A failed property of a target: libFuzzer reports the trap as a crash and keeps the input.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("property failed: \(message())", file: file, line: line) }
}
