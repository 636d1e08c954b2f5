import ParleyTestSupport
import Testing
import ParleyWire


/// Flips, truncates, extends or overwrites bytes of `bytes`, the way fuzz tests damage input.
func mutate(_ bytes: [UInt8], using generator: inout SeededGenerator) -> [UInt8] {
    var result = bytes
    switch Int.random(in: 0..<5, using: &generator) {
    case 0 where !result.isEmpty:
        result = Array(result.prefix(Int.random(in: 0..<result.count, using: &generator)))
    case 1:
        result += (0..<Int.random(in: 1...8, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    case 2:
        result = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    default:
        for _ in 0..<Int.random(in: 1...4, using: &generator) where !result.isEmpty {
            let index = Int.random(in: 0..<result.count, using: &generator)
            result[index] = Bool.random(using: &generator)
                ? UInt8.random(in: 0...255, using: &generator) : result[index] ^ (1 << UInt8.random(in: 0...7, using: &generator))
        }
    }
    return result
}

let sampleTransactionID = STUNTransactionID(bytes: [0xB7, 0xE7, 0xA7, 0x01, 0xBC, 0x34, 0xD6, 0x86, 0xFA, 0x87, 0xDF, 0xAE])!

/// RFC 5769 §2.1: sample request with username "evtj:h6vY", password "VOkJxbRl1RmTxUk/WvJxBt".
let rfc5769SampleRequest: [UInt8] = [
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xA4, 0x42, 0xB7, 0xE7, 0xA7, 0x01, 0xBC, 0x34, 0xD6, 0x86,
    0xFA, 0x87, 0xDF, 0xAE, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4E, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6C, 0x69, 0x65, 0x6E, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6E, 0x00, 0x01, 0xFF,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2F, 0xF9, 0xB1, 0x51, 0x26, 0x3B, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6A, 0x3A, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9A, 0xEA, 0xA7, 0x0C, 0xBF, 0xD8, 0xCB, 0x56, 0x78, 0x1E, 0xF2, 0xB5, 0xB2, 0xD3, 0xF2, 0x49,
    0xC1, 0xB5, 0x71, 0xA2, 0x80, 0x28, 0x00, 0x04, 0xE5, 0x7A, 0x3B, 0xCF,
]
let rfc5769Password = Array("VOkJxbRl1RmTxUk/WvJxBt".utf8)

/// A check as a browser sends it, encoded with integrity and fingerprint.
func sampleCheck(key: [UInt8] = Array("server-password-24-chars".utf8)) -> [UInt8] {
    STUNMessage(class: .request, transactionID: sampleTransactionID, attributes: [
        .username("srvufrag:cli1"), .priority(0x6E00_01FF), .iceControlling(0x1122_3344_5566_7788), .useCandidate,
    ]).encoded(integrityKey: key, fingerprint: true)
}

@Test func crc32MatchesTheISOHDLCCheckValue() {
    #expect(CRC32.isoHDLC.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(CRC32.isoHDLC.checksum([]) == 0)
}

@Test func everyAttributeSurvivesARoundTrip() throws {
    let key = Array("pass".utf8)
    let attributes: [STUNAttribute] = [
        .username("ufrag:peer"), .xorMappedAddress(PeerAddress("192.0.2.1:32853")!),
        .xorMappedAddress(PeerAddress("[2001:db8:1234:5678:11:2233:4455:6677]:32853")!),
        .priority(0x6E00_01FF), .useCandidate, .iceControlled(0x932F_F9B1_5126_3B36),
        .iceControlling(0x0102_0304_0506_0708), .errorCode(code: 487, reason: "Role Conflict"),
        .errorCode(code: 300, reason: ""), .unknown(type: 0x8022, value: Array("odd-len".utf8)),
    ]
    for messageClass in [STUNClass.request, .indication, .successResponse, .errorResponse] {
        let message = STUNMessage(class: messageClass, method: .binding, transactionID: .random(), attributes: attributes)
        let bytes = message.encoded(integrityKey: key, fingerprint: true)
        #expect(bytes.count % 4 == 0)
        let parsed = try STUNMessage(parsing: bytes)
        #expect(parsed.messageClass == messageClass)
        #expect(Array(parsed.attributes.prefix(attributes.count)) == attributes)
        #expect(parsed.attributes.count == attributes.count + 2)
        #expect(parsed.messageIntegrity?.count == 20)
        #expect(parsed.fingerprint != nil)
        #expect(parsed.hasValidMessageIntegrity(key: key))
        #expect(parsed.username == "ufrag:peer")
        #expect(parsed.priority == 0x6E00_01FF)
        #expect(parsed.useCandidate)
        #expect(parsed.iceControlled == 0x932F_F9B1_5126_3B36)
        #expect(parsed.iceControlling == 0x0102_0304_0506_0708)
        #expect(parsed.xorMappedAddress == PeerAddress("192.0.2.1:32853"))
        #expect(parsed.errorCode?.code == 487)
        #expect(parsed.errorCode?.reason == "Role Conflict")
    }
    let bare = STUNMessage(class: .request, transactionID: sampleTransactionID)
    #expect(try STUNMessage(parsing: bare.encoded(integrityKey: nil, fingerprint: false)) == bare)
    #expect(bare.encoded(integrityKey: nil, fingerprint: false).count == 20)
}

@Test func xorMappedAddressMatchesRFC5769Encoding() {
    // RFC 5769 §2.2: 192.0.2.1:32853 encodes as family 1, port 0xA147, address 0xE112A643.
    let message = STUNMessage(class: .successResponse, transactionID: sampleTransactionID,
                              attributes: [.xorMappedAddress(PeerAddress("192.0.2.1:32853")!)])
    let bytes = message.encoded(integrityKey: nil, fingerprint: false)
    #expect(Array(bytes[20...]) == [0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xA1, 0x47, 0xE1, 0x12, 0xA6, 0x43])
}

@Test func parsesTheRFC5769SampleRequest() throws {
    let message = try STUNMessage(parsing: rfc5769SampleRequest)
    #expect(message.messageClass == .request)
    #expect(message.method == .binding)
    #expect(message.transactionID == sampleTransactionID)
    #expect(message.username == "evtj:h6vY")
    #expect(message.priority == 0x6E00_01FF)
    #expect(message.iceControlled == 0x932F_F9B1_5126_3B36)
    #expect(message.attributes.first == .unknown(type: 0x8022, value: Array("STUN test client".utf8)))
    #expect(message.fingerprint == 0xE57A_3BCF)
    #expect(message.hasValidMessageIntegrity(key: rfc5769Password))
    #expect(!message.hasValidMessageIntegrity(key: Array("VOkJxbRl1RmTxUk/WvJxBT".utf8)))
}

@Test func integrityFailsWhenAnyCoveredByteChanges() throws {
    let key = Array("server-password-24-chars".utf8)
    let bytes = STUNMessage(class: .request, transactionID: sampleTransactionID, attributes: [
        .username("srvufrag:cli1"), .priority(7), .iceControlling(9),
    ]).encoded(integrityKey: key, fingerprint: false)
    #expect(try STUNMessage(parsing: bytes).hasValidMessageIntegrity(key: key))
    #expect(try !STUNMessage(parsing: bytes).hasValidMessageIntegrity(key: Array("server-password-24-charz".utf8)))
    // Every byte before and inside MESSAGE-INTEGRITY's value, except the length field.
    for index in (0..<bytes.count) where index != 2 && index != 3 && !(bytes.count - 24..<bytes.count - 20).contains(index) {
        var damaged = bytes
        damaged[index] ^= 0x01
        guard let message = try? STUNMessage(parsing: damaged) else { continue }
        #expect(!message.hasValidMessageIntegrity(key: key), "byte \(index)")
    }
    let unsigned = STUNMessage(class: .request, transactionID: sampleTransactionID, attributes: [.username("a:b")])
    #expect(try !STUNMessage(parsing: unsigned.encoded(integrityKey: nil, fingerprint: true)).hasValidMessageIntegrity(key: key))
}

@Test func builtMessagesVerifyTheirOwnIntegrity() throws {
    let key = Array("k".utf8)
    let parsed = try STUNMessage(parsing: sampleCheck(key: key))
    var rebuilt = STUNMessage(class: parsed.messageClass, transactionID: parsed.transactionID, attributes: parsed.attributes)
    #expect(rebuilt.hasValidMessageIntegrity(key: key))
    rebuilt.attributes[0] = .username("srvufrag:cli2")
    #expect(!rebuilt.hasValidMessageIntegrity(key: key))
}

@Test func attributesAfterIntegrityOtherThanFingerprintAreIgnored() throws {
    var bytes = STUNMessage(class: .request, transactionID: sampleTransactionID, attributes: [.username("a:b")])
        .encoded(integrityKey: Array("k".utf8), fingerprint: false)
    bytes += [0x00, 0x24, 0x00, 0x04, 0, 0, 0, 1]
    bytes[3] += 8
    let message = try STUNMessage(parsing: bytes)
    #expect(message.priority == nil)
    #expect(message.hasValidMessageIntegrity(key: Array("k".utf8)))
}

@Test func rejectsAFingerprintMismatch() {
    var bytes = sampleCheck()
    bytes[bytes.count - 1] ^= 0xFF
    #expect(throws: STUNParseError.self) { try STUNMessage(parsing: bytes) }
    do {
        _ = try STUNMessage(parsing: bytes)
    } catch {
        guard case .fingerprintMismatch = error else {
            Issue.record("unexpected \(error)")
            return
        }
    }
    var sample = rfc5769SampleRequest
    sample[25] ^= 0x20 // "STUN test client" -> "sTUN...": integrity and fingerprint no longer match
    #expect(throws: STUNParseError.fingerprintMismatch(expected: CRC32.isoHDLC.checksum(sample[..<(sample.count - 8)]) ^ 0x5354_554E,
                                                       found: 0xE57A_3BCF)) { try STUNMessage(parsing: sample) }
}

@Test func rejectsMalformedMessagesWithTheRightError() {
    let valid = sampleCheck()
    func expectError(_ expected: STUNParseError, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: expected, sourceLocation: sourceLocation) { try STUNMessage(parsing: bytes) }
    }
    expectError(.tooShort(byteCount: 0), [])
    expectError(.tooShort(byteCount: 19), Array(valid.prefix(19)))
    expectError(.lengthMismatch(declared: valid.count - 20, actual: valid.count - 24), Array(valid.dropLast(4)))

    var oversized = valid
    oversized[2] = 0xFF
    expectError(.lengthMismatch(declared: 0xFF00 | Int(valid[3]), actual: valid.count - 20), oversized)

    var cookie = valid
    cookie[4] = 0x22
    expectError(.badMagicCookie(0x2212_A442), cookie)

    var notSTUN = valid
    notSTUN[0] |= 0x80
    expectError(.notSTUN(firstByte: 0x80), notSTUN)

    var method = valid
    method[1] = 0x02
    expectError(.unsupportedMethod(2), method)

    // USERNAME "abcde" without its three padding bytes: the message length is not a multiple of 4.
    let unpadded: [UInt8] = [0x00, 0x01, 0x00, 0x09, 0x21, 0x12, 0xA4, 0x42] + sampleTransactionID.bytes
        + [0x00, 0x06, 0x00, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65]
    expectError(.lengthNotPadded(9), unpadded)

    let overrun: [UInt8] = [0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42] + sampleTransactionID.bytes
        + [0x00, 0x06, 0x00, 0x09, 0x61, 0x62, 0x63, 0x64]
    expectError(.attributeOverrun(type: 0x0006), overrun)

    let shortPriority: [UInt8] = [0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42] + sampleTransactionID.bytes
        + [0x00, 0x24, 0x00, 0x02, 0x01, 0x02, 0x00, 0x00]
    expectError(.malformedAttribute(type: 0x0024), shortPriority)

    let badUTF8: [UInt8] = [0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42] + sampleTransactionID.bytes
        + [0x00, 0x06, 0x00, 0x02, 0xC3, 0x28, 0x00, 0x00]
    expectError(.malformedAttribute(type: 0x0006), badUTF8)

    let badFamily: [UInt8] = [0x00, 0x01, 0x00, 0x0C, 0x21, 0x12, 0xA4, 0x42] + sampleTransactionID.bytes
        + [0x00, 0x20, 0x00, 0x08, 0x00, 0x03, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04]
    expectError(.malformedAttribute(type: 0x0020), badFamily)

    var afterFingerprint = STUNMessage(class: .request, transactionID: sampleTransactionID, attributes: [.username("a:b")])
        .encoded(integrityKey: nil, fingerprint: true)
    afterFingerprint += [0x00, 0x25, 0x00, 0x00]
    afterFingerprint[3] += 4
    expectError(.attributeAfterFingerprint, afterFingerprint)
}

@Test func tenThousandMutatedMessagesNeverCrashTheParser() {
    var generator = SeededGenerator(seed: 0x5354_554E)
    let key = Array("server-password-24-chars".utf8)
    let seeds = [sampleCheck(key: key), rfc5769SampleRequest,
                 STUNMessage(class: .errorResponse, transactionID: sampleTransactionID,
                             attributes: [.errorCode(code: 401, reason: "Unauthorized"),
                                          .xorMappedAddress(PeerAddress("[::1]:9")!)]).encoded(integrityKey: nil, fingerprint: false)]
    var parsedCount = 0
    for round in 0..<10_000 {
        let bytes = mutate(seeds[round % seeds.count], using: &generator)
        guard let message = try? STUNMessage(parsing: bytes) else { continue }
        parsedCount += 1
        _ = message.hasValidMessageIntegrity(key: key)
        // Whatever parses re-encodes to something that parses to the same message.
        let again = try? STUNMessage(parsing: message.encoded(integrityKey: nil, fingerprint: false))
        let withoutChecks = message.attributes.filter {
            switch $0 {
            case .messageIntegrity, .fingerprint: false
            default: true
            }
        }
        #expect(again?.attributes == withoutChecks)
    }
    #expect(parsedCount > 100)
}
