import Testing
@Test func webRTCModuleBuilds() { #expect(Bool(true)) }
