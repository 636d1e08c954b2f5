import ParleyRelay
import ParleyWire
import Testing

@Test func memoryStoreRecordsLooksUpAndExpires() async throws {
    let store = MemoryFlowStore()
    let client = PeerAddress("198.51.100.4:50000")!
    let ipv6Client = PeerAddress("[2001:db8::4]:50000")!
    let transceiver = PeerAddress("10.0.0.2:40000")!
    #expect(try await store.lookup(client: client) == nil)
    try await store.record(client: client, transceiver: transceiver, ttl: .milliseconds(150))
    try await store.record(client: ipv6Client, transceiver: transceiver, ttl: .seconds(60))
    #expect(try await store.lookup(client: client) == transceiver)
    #expect(try await store.lookup(client: ipv6Client) == transceiver)
    let moved = PeerAddress("10.0.0.3:40000")!
    try await store.record(client: ipv6Client, transceiver: moved, ttl: .seconds(60))
    #expect(try await store.lookup(client: ipv6Client) == moved)
    try await Task.sleep(for: .milliseconds(250))
    #expect(try await store.lookup(client: client) == nil)
    #expect(try await store.lookup(client: ipv6Client) == moved)
}

@Test func memoryStoreSweepsExpiredEntries() async throws {
    let store = MemoryFlowStore()
    let transceiver = PeerAddress("10.0.0.2:40000")!
    for port in 1...1_000 {
        try await store.record(client: PeerAddress(ip: .v4(0xC633_6404), port: UInt16(port)), transceiver: transceiver, ttl: .milliseconds(1))
    }
    try await Task.sleep(for: .milliseconds(20))
    for port in 1...100 {
        try await store.record(client: PeerAddress(ip: .v4(0xC633_6405), port: UInt16(port)), transceiver: transceiver, ttl: .seconds(60))
    }
    #expect(store.count <= 100)
}
