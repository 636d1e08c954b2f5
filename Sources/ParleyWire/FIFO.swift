/// A first-in, first-out queue for what a sans-IO core hands its runtime (datagrams, events,
/// actions): reading advances a head index instead of shifting the array, and the storage is
/// reused once everything queued was read.
public struct FIFO<Element> {
    private var items: [Element] = []
    private var head = 0

    public init() {}

    public var isEmpty: Bool { head == items.count }

    public mutating func append(_ element: Element) {
        items.append(element)
    }

    public mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        let element = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        return element
    }

    /// Drops everything queued and not yet read.
    public mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        head = 0
    }
}

extension FIFO: Sendable where Element: Sendable {}
