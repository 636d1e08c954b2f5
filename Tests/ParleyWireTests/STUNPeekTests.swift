import ParleyTestSupport
import Testing
import ParleyWire

private func peek(_ bytes: [UInt8]) -> Range<Int>? {
    bytes.withUnsafeBytes { STUNPeek.username(in: $0) }
}

@Test func peekFindsTheUsernameInPlace() throws {
    let bytes = sampleCheck()
    let range = try #require(peek(bytes))
    #expect(Array(bytes[range]) == Array("srvufrag:cli1".utf8))
    let sample = try #require(peek(rfc5769SampleRequest))
    #expect(Array(rfc5769SampleRequest[sample]) == Array("evtj:h6vY".utf8))
}

@Test func peekRejectsWhatIsNotABindingRequestWithUsername() {
    let response = STUNMessage(class: .successResponse, transactionID: sampleTransactionID, attributes: [.username("a:b")])
    #expect(peek(response.encoded(integrityKey: nil, fingerprint: true)) == nil)
    let anonymous = STUNMessage(class: .request, transactionID: sampleTransactionID, attributes: [.priority(1)])
    #expect(peek(anonymous.encoded(integrityKey: nil, fingerprint: true)) == nil)
    #expect(peek([]) == nil)
    #expect(peek(Array(sampleCheck().dropLast())) == nil)
    var oversized = sampleCheck()
    oversized[3] &+= 4
    #expect(peek(oversized) == nil)
}

@Test func peekAgreesWithTheFullParserOnMutatedMessages() {
    var generator = SeededGenerator(seed: 42)
    let seeds = [sampleCheck(), rfc5769SampleRequest]
    var agreed = 0
    for round in 0..<10_000 {
        let bytes = mutate(seeds[round % seeds.count], using: &generator)
        let range = peek(bytes)
        if let message = try? STUNMessage(parsing: bytes), message.messageClass == .request {
            let expected = message.username.map { Array($0.utf8) }
            #expect(range.map { Array(bytes[$0]) } == expected, "round \(round)")
            agreed += 1
        }
        if let range {
            #expect(range.lowerBound >= 24 && range.upperBound <= bytes.count)
        }
    }
    #expect(agreed > 100)
}
