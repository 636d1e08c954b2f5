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
