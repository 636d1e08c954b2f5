/// One RESP2 value (Redis serialization protocol, https://redis.io/docs/latest/develop/reference/protocol-spec/).
public enum RedisRESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    /// nil is the null bulk string `$-1`.
    case bulkString([UInt8]?)
    /// nil is the null array `*-1`.
    case array([RedisRESPValue]?)
}

/// Why bytes from Redis are not RESP2.
public enum RedisRESPParseError: Error, Equatable {
    /// The first byte of a value is none of `+ - : $ *`.
    case unknownType(UInt8)
    /// A length or integer line is not a decimal number.
    case invalidInteger
    /// A bulk string or array length is negative (other than -1) or above the limit.
    case invalidLength(Int64)
    /// A bulk string's bytes are not followed by CR LF.
    case missingTerminator
    /// Arrays nest deeper than the limit.
    case tooDeep
    /// A line runs past the limit with no CR LF.
    case lineTooLong
}

/// Reads and writes RESP2 (the subset a flow store needs: commands out, any reply in).
/// `parse` is public for the fuzz targets (Fuzz/).
public enum RedisRESP {
    /// Replies larger than this are refused: flow store values are short addresses.
    static let maximumBulkLength: Int64 = 1 << 20
    static let maximumArrayCount: Int64 = 1 << 16
    static let maximumDepth = 8
    static let maximumLineLength = 1 << 16

    /// A command as a RESP array of bulk strings.
    static func encodeCommand(_ arguments: [String]) -> [UInt8] {
        var bytes = Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments {
            bytes += Array("$\(argument.utf8.count)\r\n".utf8)
            bytes += Array(argument.utf8)
            bytes += [13, 10]
        }
        return bytes
    }

    /// Parses one value from the start of `bytes`: the value and the bytes it used, nil when
    /// more bytes are needed, or an error when the bytes cannot be RESP2.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(RedisRESPParseError) -> (value: RedisRESPValue, length: Int)? {
        var offset = 0
        guard let value = try parseValue(bytes, at: &offset, depth: 0) else { return nil }
        return (value, offset)
    }

    private static func parseValue(_ bytes: UnsafeRawBufferPointer, at offset: inout Int,
                                   depth: Int) throws(RedisRESPParseError) -> RedisRESPValue? {
        guard depth <= maximumDepth else { throw .tooDeep }
        guard offset < bytes.count else { return nil }
        let type = bytes[offset]
        guard let line = try lineEnd(bytes, from: offset + 1) else { return nil }
        let content = UnsafeRawBufferPointer(rebasing: bytes[(offset + 1)..<line])
        switch type {
        case UInt8(ascii: "+"):
            offset = line + 2
            return .simpleString(String(decoding: content, as: UTF8.self))
        case UInt8(ascii: "-"):
            offset = line + 2
            return .error(String(decoding: content, as: UTF8.self))
        case UInt8(ascii: ":"):
            offset = line + 2
            return .integer(try integer(content))
        case UInt8(ascii: "$"):
            let length = try integer(content)
            if length == -1 {
                offset = line + 2
                return .bulkString(nil)
            }
            guard (0...maximumBulkLength).contains(length) else { throw .invalidLength(length) }
            let start = line + 2
            let end = start + Int(length)
            guard end + 2 <= bytes.count else { return nil }
            guard bytes[end] == 13, bytes[end + 1] == 10 else { throw .missingTerminator }
            offset = end + 2
            return .bulkString(Array(bytes[start..<end]))
        case UInt8(ascii: "*"):
            let count = try integer(content)
            var next = line + 2
            if count == -1 {
                offset = next
                return .array(nil)
            }
            guard (0...maximumArrayCount).contains(count) else { throw .invalidLength(count) }
            var elements: [RedisRESPValue] = []
            for _ in 0..<count {
                guard let element = try parseValue(bytes, at: &next, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            offset = next
            return .array(elements)
        default:
            throw .unknownType(type)
        }
    }

    /// The index of the CR of the first CR LF at or after `start`, nil when none yet.
    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(RedisRESPParseError) -> Int? {
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == 13, bytes[index + 1] == 10 { return index }
            index += 1
        }
        guard bytes.count - start <= maximumLineLength else { throw .lineTooLong }
        return nil
    }

    private static func integer(_ digits: UnsafeRawBufferPointer) throws(RedisRESPParseError) -> Int64 {
        guard digits.count <= 20, let value = Int64(String(decoding: digits, as: UTF8.self)) else {
            throw .invalidInteger
        }
        return value
    }
}
