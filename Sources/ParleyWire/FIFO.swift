/// A first-in, first-out queue for what a sans-IO core hands its runtime (datagrams, events,
/// actions): reading advances a head index instead of shifting the array, and the storage is
/// reused once everything queued was read.
///
/// Inlinable, so that every module using it gets a copy specialized to its element type
/// rather than calling the generic one, which looks up runtime metadata on every call (seen
/// at the top of a transceiver's profile, since the cores call it for every datagram).
public struct FIFO<Element> {
    @usableFromInline var items: [Element] = []
    @usableFromInline var head = 0

    @inlinable public init() {}

    @inlinable public var isEmpty: Bool { head == items.count }

    /// The element `popFirst()` would return, left in place.
    @inlinable public var first: Element? { head < items.count ? items[head] : nil }

    @inlinable public mutating func append(_ element: Element) {
        items.append(element)
    }

    @inlinable public mutating func popFirst() -> Element? {
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
    @inlinable public mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        head = 0
    }
}

extension FIFO: Sendable where Element: Sendable {}
