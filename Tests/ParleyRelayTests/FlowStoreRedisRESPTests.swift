@testable import ParleyRelay
import ParleyTestSupport
import Testing

private func parse(_ text: String) throws -> (value: RedisRESPValue, length: Int)? {
    try Array(text.utf8).withUnsafeBytes { try RedisRESP.parse($0) }
}

@Test func parsesEveryRESP2ReplyType() throws {
    #expect(try parse("+OK\r\n")?.value == .simpleString("OK"))
    #expect(try parse("-ERR wrong\r\n")?.value == .error("ERR wrong"))
    #expect(try parse(":-42\r\n")?.value == .integer(-42))
    #expect(try parse("$5\r\na\r\nbc\r\n")?.value == .bulkString(Array("a\r\nbc".utf8)))
    #expect(try parse("$-1\r\n")?.value == .bulkString(nil))
    #expect(try parse("*-1\r\n")?.value == .array(nil))
    #expect(try parse("*2\r\n$1\r\nx\r\n:7\r\n+next\r\n")?.value == .array([.bulkString([0x78]), .integer(7)]))
    #expect(try parse("*2\r\n$1\r\nx\r\n:7\r\n+next\r\n")?.length == 15)
}

@Test func incompleteRepliesWaitForMoreBytes() throws {
    let whole = "*2\r\n$5\r\nhello\r\n$-1\r\n"
    for end in 0..<whole.utf8.count {
        #expect(try parse(String(whole.utf8.prefix(end))!) == nil, "prefix \(end)")
    }
    #expect(try parse(whole)?.length == whole.utf8.count)
}

@Test func malformedRepliesThrowWhatIsWrong() {
    #expect(throws: RedisRESPParseError.unknownType(UInt8(ascii: "?"))) { try parse("?x\r\n") }
    #expect(throws: RedisRESPParseError.invalidInteger) { try parse(":12a\r\n") }
    #expect(throws: RedisRESPParseError.invalidLength(-2)) { try parse("$-2\r\n") }
    #expect(throws: RedisRESPParseError.invalidLength(1 << 40)) { try parse("$1099511627776\r\n") }
    #expect(throws: RedisRESPParseError.missingTerminator) { try parse("$2\r\nabcd\r\n") }
    #expect(throws: RedisRESPParseError.tooDeep) { try parse(String(repeating: "*1\r\n", count: 20) + ":1\r\n") }
    #expect(throws: RedisRESPParseError.lineTooLong) { try parse("+" + String(repeating: "a", count: 70_000)) }
}

@Test func commandsAreArraysOfBulkStrings() throws {
    let command = RedisRESP.encodeCommand(["SET", "k", "é", "PX", "10"])
    #expect(String(decoding: command, as: UTF8.self) == "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\né\r\n$2\r\nPX\r\n$2\r\n10\r\n")
    let parsed = try command.withUnsafeBytes { try RedisRESP.parse($0) }
    #expect(parsed?.value == .array(["SET", "k", "é", "PX", "10"].map { .bulkString(Array($0.utf8)) }))
}

@Test func randomAndMutatedRepliesNeverCrash() {
    var generator = SeededGenerator(seed: 21)
    let samples = ["+OK\r\n", "$13\r\n10.0.0.2:4000\r\n", "*3\r\n:1\r\n$-1\r\n-ERR x\r\n", "$-1\r\n"].map { Array($0.utf8) }
    let alphabet = Array("+-:$*0123456789-\r\nab".utf8)
    for round in 0..<10_000 {
        var bytes: [UInt8]
        if round.isMultiple(of: 2) {
            bytes = (0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
        } else {
            bytes = samples[round / 2 % samples.count]
            bytes.removeLast(Int.random(in: 0...bytes.count, using: &generator))
            if !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
        }
        if let parsed = try? bytes.withUnsafeBytes({ try RedisRESP.parse($0) }) {
            #expect(parsed.length <= bytes.count)
        }
    }
}

@Test func endpointsParseFromURLs() {
    #expect(RedisEndpoint(url: "redis://127.0.0.1:6380/2") == RedisEndpoint(host: "127.0.0.1", port: 6380, database: 2))
    #expect(RedisEndpoint(url: "redis://redis") == RedisEndpoint(host: "redis"))
    #expect(RedisEndpoint(url: "redis://[::1]:7000") == RedisEndpoint(host: "::1", port: 7000))
    #expect(RedisEndpoint(url: "redis://host/") == RedisEndpoint(host: "host"))
    for bad in ["http://h:1", "redis://", "redis://h:0", "redis://h:x", "redis://h/db", "redis://u@h", "redis://[::1"] {
        #expect(RedisEndpoint(url: bad) == nil, "\(bad)")
    }
}
