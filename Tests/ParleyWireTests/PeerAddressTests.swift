import Testing
import ParleyWire

@Test func parsesAndPrintsIPv4AndIPv6Addresses() {
    #expect(PeerAddress("127.0.0.1:3478")?.description == "127.0.0.1:3478")
    #expect(PeerAddress("[::1]:9")?.description == "[::1]:9")
    #expect(PeerAddress("[2001:db8:0:0:1:0:0:1]:80")?.description == "[2001:db8::1:0:0:1]:80")
    #expect(IPAddress("::ffff:10.0.0.1")?.bytes.suffix(4) == [10, 0, 0, 1])
}

@Test func rejectsMalformedAddresses() {
    for text in ["", "1.2.3", "1.2.3.4", "256.1.1.1:1", "1.2.3.4:70000", "[::1]", "::1:80", "1:2:3:4:5:6:7:8:9", "[1::2::3]:1", "a.b.c.d:1"] {
        #expect(PeerAddress(text) == nil, "\(text)")
    }
}

@Test func networksContainTheirAddressesOnly() throws {
    let private10 = try #require(IPNetwork("10.0.0.0/8"))
    #expect(private10.contains(IPAddress("10.200.3.4")!))
    #expect(!private10.contains(IPAddress("11.0.0.1")!))
    #expect(!private10.contains(IPAddress("::ffff:10.0.0.1")!))
    let host = try #require(IPNetwork("127.0.0.1"))
    #expect(host.contains(IPAddress("127.0.0.1")!) && !host.contains(IPAddress("127.0.0.2")!))
    let odd = try #require(IPNetwork("192.168.4.0/22"))
    #expect(odd.contains(IPAddress("192.168.7.255")!) && !odd.contains(IPAddress("192.168.8.0")!))
    #expect(IPNetwork("fd00::/8")?.contains(IPAddress("fd12::1")!) == true)
    #expect(IPNetwork("0.0.0.0/0")?.contains(IPAddress("8.8.8.8")!) == true)
    for bad in ["10.0.0.0/33", "10.0.0.0/", "/8", "x/8", "::/129", "10.0.0.0/8/1", "10.0.0.0/-1"] {
        #expect(IPNetwork(bad) == nil, "\(bad)")
    }
}
