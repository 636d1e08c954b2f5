@testable import ParleyTransceiver
import ParleyWire
import Testing

/// The signaling port's connection limits without sockets: the cap, who gives up a slot to a
/// newcomer, the first head's deadline, and finding the end of a head that arrives in pieces.
@Suite struct HTTPConnectionLedgerTests {
    static let start = Instant(nanoseconds: 5_000_000_000)
    static let limits = HTTPConnectionLedger.Limits(maxConnections: 3, headerTimeout: .seconds(10), evictionAge: .seconds(1))

    @Test func connectionsBeyondTheCapAreRefusedWhileEveryOpenOneHasSentItsHead() {
        var ledger = HTTPConnectionLedger(limits: Self.limits)
        for id in 1...3 {
            #expect(ledger.open(UInt64(id), now: Self.start) == .admitted)
            ledger.receivedHead(UInt64(id))
        }
        #expect(ledger.open(4, now: Self.start + .seconds(30)) == .refused)
        #expect(ledger.openConnections == 3)
        ledger.closed(2)
        #expect(ledger.open(5, now: Self.start + .seconds(30)) == .admitted)
    }

    @Test func aNewcomerAtTheCapTakesTheSlotOfTheOldestConnectionStillWithoutAHead() {
        var ledger = HTTPConnectionLedger(limits: Self.limits)
        #expect(ledger.open(1, now: Self.start) == .admitted)
        #expect(ledger.open(2, now: Self.start + .milliseconds(100)) == .admitted)
        #expect(ledger.open(3, now: Self.start + .milliseconds(200)) == .admitted)
        ledger.receivedHead(1)
        // Connection 2 is the oldest still waiting, but for less than the eviction age: refused.
        #expect(ledger.open(4, now: Self.start + .milliseconds(900)) == .refused)
        #expect(ledger.open(5, now: Self.start + .milliseconds(1_100)) == .admittedEvicting(2))
        #expect(ledger.open(6, now: Self.start + .milliseconds(1_300)) == .admittedEvicting(3))
        // 1 sent its head, 5 and 6 are too young.
        #expect(ledger.open(7, now: Self.start + .milliseconds(1_400)) == .refused)
        #expect(ledger.openConnections == 3)
        #expect(ledger.headerDeadline(of: 2) == nil)
    }

    @Test func aConnectionHasUntilTheHeaderTimeoutToSendItsFirstHead() {
        var ledger = HTTPConnectionLedger(limits: Self.limits)
        _ = ledger.open(1, now: Self.start)
        #expect(ledger.headerDeadline(of: 1) == Self.start + .seconds(10))
        ledger.receivedHead(1)
        #expect(ledger.headerDeadline(of: 1) == nil)
        #expect(ledger.headerDeadline(of: 99) == nil)
    }

    @Test func theOldestWaitingConnectionIsFoundAmongThousandsThatCameAndWent() {
        var ledger = HTTPConnectionLedger(limits: Self.limits)
        // Thousands of short connections never reach the cap; a slowloris opened before them
        // is still found first when it does.
        #expect(ledger.open(0, now: Self.start) == .admitted)
        for id in 1...5_000 {
            #expect(ledger.open(UInt64(id), now: Self.start) == .admitted)
            ledger.receivedHead(UInt64(id))
            ledger.closed(UInt64(id))
        }
        _ = ledger.open(10_001, now: Self.start)
        ledger.receivedHead(10_001)
        _ = ledger.open(10_002, now: Self.start)
        ledger.receivedHead(10_002)
        #expect(ledger.open(10_003, now: Self.start + .seconds(2)) == .admittedEvicting(0))
    }

    @Test func theHeadEndsAtTheFirstEmptyLineWhereverTheBytesAreSplit() {
        let head = Array("POST /v1/realtime/calls HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nv=0".utf8)
        let end = head.count - 3
        for split in 1..<head.count {
            var scanner = HTTPHeadScanner()
            let first = scanner.scan(head[..<split])
            let second = scanner.scan(head[split...])
            #expect(first == (split >= end) && second)
        }
        var bareLF = HTTPHeadScanner()
        let bareLFEnded = bareLF.scan(Array("GET / HTTP/1.1\nHost: a\n\n".utf8))
        var slow = HTTPHeadScanner()
        let slowEnded = slow.scan(Array("GET / HTTP/1.1\r\nX-a: b\r\nX-c: d\r\n".utf8))
        #expect(bareLFEnded && !slowEnded)
    }
}
