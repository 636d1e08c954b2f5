import ParleyWire

/// Something a `DeadlineHeap` schedules; it remembers its own place in the heap so that
/// rescheduling and removal need no lookup.
protocol DeadlineHeapElement: AnyObject {
    var heapSlot: DeadlineSlot? { get set }
}

/// Where an element sits in its `DeadlineHeap` and when it is due.
struct DeadlineSlot {
    fileprivate var index: Int
    var deadline: Instant
}

/// A binary min-heap of objects by deadline, each object at most once: the earliest deadline
/// across every call of an endpoint in O(1), a reschedule or removal in O(log n), with no
/// scan of all calls per wake-up.
struct DeadlineHeap<Element: DeadlineHeapElement> {
    private var elements: [Element] = []

    var count: Int { elements.count }

    /// The earliest deadline, if anything is scheduled.
    var first: Instant? { elements.first?.heapSlot?.deadline }

    /// Schedules `element` at `deadline`, moving it if it was scheduled; nil unschedules it.
    mutating func schedule(_ element: Element, at deadline: Instant?) {
        guard let deadline else { return remove(element) }
        guard let slot = element.heapSlot else {
            elements.append(element)
            element.heapSlot = DeadlineSlot(index: elements.count - 1, deadline: deadline)
            return siftUp(elements.count - 1)
        }
        let earlier = deadline < slot.deadline
        element.heapSlot?.deadline = deadline
        if earlier { siftUp(slot.index) } else { siftDown(slot.index) }
    }

    mutating func remove(_ element: Element) {
        guard let slot = element.heapSlot else { return }
        element.heapSlot = nil
        let last = elements.count - 1
        if slot.index != last {
            elements.swapAt(slot.index, last)
            elements[slot.index].heapSlot?.index = slot.index
        }
        elements.removeLast()
        guard slot.index < elements.count else { return }
        siftUp(slot.index)
        siftDown(elements[slot.index].heapSlot!.index)
    }

    /// Takes the earliest element if its deadline is at or before `now`.
    mutating func popDue(now: Instant) -> Element? {
        guard let top = elements.first, let deadline = top.heapSlot?.deadline, deadline <= now else { return nil }
        remove(top)
        return top
    }

    private func deadline(at index: Int) -> Instant {
        elements[index].heapSlot!.deadline
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        elements.swapAt(a, b)
        elements[a].heapSlot?.index = a
        elements[b].heapSlot?.index = b
    }

    private mutating func siftUp(_ start: Int) {
        var index = start
        while index > 0 {
            let parent = (index - 1) / 2
            guard deadline(at: index) < deadline(at: parent) else { return }
            swapAt(index, parent)
            index = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var index = start
        while true {
            let left = 2 * index + 1
            guard left < elements.count else { return }
            let right = left + 1
            var smallest = index
            if deadline(at: left) < deadline(at: smallest) { smallest = left }
            if right < elements.count, deadline(at: right) < deadline(at: smallest) { smallest = right }
            guard smallest != index else { return }
            swapAt(index, smallest)
            index = smallest
        }
    }
}
