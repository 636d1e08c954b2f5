@testable import ParleyEndpoint
import ParleyTestSupport
import ParleyWire
import Testing

@Suite struct DeadlineHeapTests {
    final class Item: DeadlineHeapElement {
        let name: Int
        var heapSlot: DeadlineSlot?
        init(_ name: Int) { self.name = name }
    }

    @Test func popsInDeadlineOrderAcrossReschedulesAndRemovals() {
        var generator = SeededGenerator(seed: 9)
        var heap = DeadlineHeap<Item>()
        let items = (0..<200).map(Item.init)
        var expected: [Int: Int64] = [:]
        for _ in 0..<2_000 {
            let item = items.randomElement(using: &generator)!
            switch Int.random(in: 0..<4, using: &generator) {
            case 0:
                heap.remove(item)
                expected[item.name] = nil
            default:
                let deadline = Int64.random(in: 0..<10_000, using: &generator)
                heap.schedule(item, at: Instant(nanoseconds: deadline))
                expected[item.name] = deadline
            }
        }
        #expect(heap.count == expected.count)
        #expect(heap.first == expected.values.min().map(Instant.init(nanoseconds:)))
        var popped: [Int64] = []
        while let item = heap.popDue(now: Instant(nanoseconds: 10_000)) {
            #expect(item.heapSlot == nil)
            popped.append(expected.removeValue(forKey: item.name)!)
        }
        #expect(expected.isEmpty)
        #expect(popped == popped.sorted())
    }

    @Test func popDueLeavesWhatIsNotDue() {
        var heap = DeadlineHeap<Item>()
        let early = Item(1)
        let late = Item(2)
        heap.schedule(late, at: Instant(nanoseconds: 50))
        heap.schedule(early, at: Instant(nanoseconds: 10))
        #expect(heap.popDue(now: Instant(nanoseconds: 9)) == nil)
        #expect(heap.popDue(now: Instant(nanoseconds: 10)) === early)
        #expect(heap.popDue(now: Instant(nanoseconds: 49)) == nil)
        heap.schedule(late, at: nil)
        #expect(heap.first == nil)
        #expect(heap.count == 0)
    }
}
