import ParleyWire

extension SCTPAssociation {
    /// A reassembled user message, ready for the data-channel layer.
    struct InboundMessage: Equatable {
        var streamID: UInt16
        var payloadProtocolIdentifier: UInt32
        var payload: [UInt8]
    }

    /// What receiving one DATA chunk or FORWARD-TSN produced.
    struct ReceiveOutcome {
        var drop: DropReason?
        var messages: [InboundMessage] = []
    }

    /// The receiving half (RFC 9260 §6.2, §6.5, §6.6, §6.9; RFC 3758 §3.6): TSN tracking,
    /// SACK contents and timing, reassembly, ordered delivery.
    ///
    /// Memory is bounded: each held chunk costs its payload plus `chunkOverhead` against
    /// `capacity`; new TSNs past the highest seen are dropped when it is used up, chunks that
    /// fill gaps may use up to twice it, and no TSN more than `maxTSNLead` past the
    /// cumulative TSN is kept.
    struct Receiver {
        static let chunkOverhead = 32
        static let maxTSNLead: UInt32 = 32_768
        static let maxFragmentsPerMessage = 1_024
        static let maxDuplicatesReported = 16
        static let maxGapBlocksReported = 64
        static let delayedAckTimeout: Duration = .milliseconds(200)

        let capacity: Int
        let maxMessageSize: Int
        var cumulativeTSN: UInt32 = 0
        var highestTSN: UInt32 = 0
        var receivedAbove: Set<UInt32> = []
        var duplicates: [UInt32] = []
        var fragments: [UInt32: SCTPDataChunk] = [:]
        var bufferedBytes = 0
        var nextSSN: [UInt16: UInt16] = [:]
        var pendingOrdered: [UInt16: [UInt16: InboundMessage]] = [:]
        var sackDue = false
        var sackDeadline: Instant?
        var packetsSinceSACK = 0

        init(configuration: Configuration) {
            capacity = configuration.receiveBufferSize
            maxMessageSize = configuration.maxMessageSize
        }

        mutating func start(peerInitialTSN: UInt32) {
            cumulativeTSN = peerInitialTSN &- 1
            highestTSN = cumulativeTSN
        }

        var advertisedWindow: UInt32 { UInt32(max(0, capacity - bufferedBytes)) }

        private static func cost(_ chunk: SCTPDataChunk) -> Int { chunk.userData.count + chunkOverhead }

        /// Accepts one DATA chunk (§6.2) and returns the messages it completed.
        mutating func receive(_ chunk: SCTPDataChunk, inboundStreams: UInt16) -> ReceiveOutcome {
            let tsn = chunk.tsn
            guard cumulativeTSN.tsnPrecedes(tsn), !receivedAbove.contains(tsn) else {
                if duplicates.count < Self.maxDuplicatesReported { duplicates.append(tsn) }
                sackDue = true
                return ReceiveOutcome()
            }
            guard tsn &- cumulativeTSN <= Self.maxTSNLead else { return ReceiveOutcome(drop: .receiveWindowFull) }
            let fillsGap = tsn.tsnPrecedes(highestTSN)
            let limit = fillsGap ? 2 * capacity : capacity
            guard bufferedBytes + Self.cost(chunk) <= limit else { return ReceiveOutcome(drop: .receiveWindowFull) }
            markReceived(tsn)
            // §6.5: acknowledge a chunk on a stream that does not exist, but discard it.
            guard chunk.streamID < inboundStreams else { return ReceiveOutcome(drop: .invalidStream) }
            fragments[tsn] = chunk
            bufferedBytes += Self.cost(chunk)
            return reassemble(around: tsn)
        }

        private mutating func markReceived(_ tsn: UInt32) {
            if highestTSN.tsnPrecedes(tsn) { highestTSN = tsn }
            receivedAbove.insert(tsn)
            advanceCumulativeTSN()
        }

        private mutating func advanceCumulativeTSN() {
            while receivedAbove.remove(cumulativeTSN &+ 1) != nil { cumulativeTSN &+= 1 }
        }

        /// Whether `next` continues the message of `chunk` (§6.9: one message's fragments
        /// have consecutive TSNs, one stream and, when ordered, one SSN).
        private static func belongTogether(_ chunk: SCTPDataChunk, _ next: SCTPDataChunk) -> Bool {
            chunk.streamID == next.streamID && chunk.isUnordered == next.isUnordered
                && (chunk.isUnordered || chunk.streamSequenceNumber == next.streamSequenceNumber)
        }

        /// Finds the whole message `tsn` belongs to, if all its fragments are here (§6.9).
        private mutating func reassemble(around tsn: UInt32) -> ReceiveOutcome {
            guard let chunk = fragments[tsn] else { return ReceiveOutcome() }
            var first = tsn
            var last = tsn
            var count = 1
            while fragments[first]?.isBeginning == false {
                guard let previous = fragments[first &- 1], !previous.isEnding, Self.belongTogether(previous, chunk),
                      count < Self.maxFragmentsPerMessage else { return ReceiveOutcome() }
                first &-= 1
                count += 1
            }
            while fragments[last]?.isEnding == false {
                guard let next = fragments[last &+ 1], !next.isBeginning, Self.belongTogether(next, chunk),
                      count < Self.maxFragmentsPerMessage else { return ReceiveOutcome() }
                last &+= 1
                count += 1
            }
            var payload: [UInt8] = []
            var current = first
            while true {
                if let fragment = fragments.removeValue(forKey: current) {
                    bufferedBytes -= Self.cost(fragment)
                    if payload.count <= maxMessageSize { payload.append(contentsOf: fragment.userData) }
                }
                if current == last { break }
                current &+= 1
            }
            let message = InboundMessage(streamID: chunk.streamID, payloadProtocolIdentifier: chunk.payloadProtocolIdentifier,
                                         payload: payload)
            let oversized = payload.count > maxMessageSize
            if chunk.isUnordered {
                return oversized ? ReceiveOutcome(drop: .oversizedMessage) : ReceiveOutcome(messages: [message])
            }
            return deliverOrdered(message, ssn: chunk.streamSequenceNumber, oversized: oversized)
        }

        /// Ordered delivery (§6.6): a message waits until every earlier SSN of its stream is delivered.
        private mutating func deliverOrdered(_ message: InboundMessage, ssn: UInt16, oversized: Bool) -> ReceiveOutcome {
            let stream = message.streamID
            let expected = nextSSN[stream, default: 0]
            var outcome = ReceiveOutcome(drop: oversized ? .oversizedMessage : nil)
            if ssn == expected {
                if !oversized { outcome.messages.append(message) }
                nextSSN[stream] = ssn &+ 1
                outcome.messages += releaseOrdered(on: stream)
            } else if expected.ssnPrecedes(ssn) {
                // An oversized message still takes its place in the order, as an empty marker.
                var held = message
                if oversized { held.payload = [] }
                pendingOrdered[stream, default: [:]][ssn] = held
                bufferedBytes += held.payload.count + Self.chunkOverhead
            }
            return outcome
        }

        private mutating func releaseOrdered(on stream: UInt16) -> [InboundMessage] {
            var released: [InboundMessage] = []
            var expected = nextSSN[stream, default: 0]
            while let message = pendingOrdered[stream]?.removeValue(forKey: expected) {
                bufferedBytes -= message.payload.count + Self.chunkOverhead
                if !message.payload.isEmpty { released.append(message) }
                expected &+= 1
            }
            nextSSN[stream] = expected
            if pendingOrdered[stream]?.isEmpty == true { pendingOrdered[stream] = nil }
            return released
        }

        /// FORWARD-TSN (RFC 3758 §3.6): the peer abandoned everything up to `newCumulativeTSN`.
        mutating func receive(_ forward: SCTPForwardTSN, inboundStreams: UInt16) -> ReceiveOutcome {
            sackDue = true
            let newCumulative = forward.newCumulativeTSN
            guard cumulativeTSN.tsnPrecedes(newCumulative) else { return ReceiveOutcome() }
            for tsn in fragments.keys where !newCumulative.tsnPrecedes(tsn) {
                if let fragment = fragments.removeValue(forKey: tsn) { bufferedBytes -= Self.cost(fragment) }
            }
            receivedAbove = receivedAbove.filter { newCumulative.tsnPrecedes($0) }
            cumulativeTSN = newCumulative
            if highestTSN.tsnPrecedes(newCumulative) { highestTSN = newCumulative }
            advanceCumulativeTSN()
            var outcome = ReceiveOutcome()
            for skipped in forward.skippedStreams where skipped.streamID < inboundStreams {
                let stream = skipped.streamID
                let expected = nextSSN[stream, default: 0]
                guard !skipped.streamSequenceNumber.ssnPrecedes(expected) else { continue }
                // Deliver what waited for the skipped messages, in order, then move past them.
                let held = (pendingOrdered[stream] ?? [:])
                    .filter { !skipped.streamSequenceNumber.ssnPrecedes($0.key) }
                    .sorted { $0.key.ssnPrecedes($1.key) }
                for (ssn, message) in held {
                    pendingOrdered[stream]?[ssn] = nil
                    bufferedBytes -= message.payload.count + Self.chunkOverhead
                    if !message.payload.isEmpty { outcome.messages.append(message) }
                }
                nextSSN[stream] = skipped.streamSequenceNumber &+ 1
                outcome.messages += releaseOrdered(on: stream)
            }
            return outcome
        }

        /// Resets an incoming stream's SSN (RFC 6525 §5.2.2).
        mutating func resetStream(_ stream: UInt16) {
            for message in (pendingOrdered.removeValue(forKey: stream) ?? [:]).values {
                bufferedBytes -= message.payload.count + Self.chunkOverhead
            }
            nextSSN[stream] = nil
        }

        /// Notes a packet that carried DATA: SACK at once for gaps, duplicates or every second
        /// packet, otherwise within the delayed-ack time (§6.2).
        mutating func notePacketWithData(now: Instant, immediate: Bool) {
            packetsSinceSACK += 1
            if immediate || !receivedAbove.isEmpty || !duplicates.isEmpty || packetsSinceSACK >= 2 {
                sackDue = true
            } else if sackDeadline == nil {
                sackDeadline = now + Self.delayedAckTimeout
            }
        }

        /// The SACK for the current state (§3.3.4); clears the pending-SACK state.
        mutating func makeSACK() -> SCTPSelectiveAck {
            let offsets = receivedAbove.map { $0 &- cumulativeTSN }.sorted()
            var blocks: [SCTPSelectiveAck.GapAckBlock] = []
            for offset in offsets {
                let value = UInt16(truncatingIfNeeded: offset)
                if let lastBlock = blocks.last, lastBlock.end &+ 1 == value {
                    blocks[blocks.count - 1].end = value
                } else if blocks.count < Self.maxGapBlocksReported {
                    blocks.append(.init(start: value, end: value))
                } else {
                    break
                }
            }
            let sack = SCTPSelectiveAck(cumulativeTSNAck: cumulativeTSN, advertisedReceiverWindowCredit: advertisedWindow,
                                        gapAckBlocks: blocks, duplicateTSNs: duplicates)
            duplicates = []
            sackDue = false
            sackDeadline = nil
            packetsSinceSACK = 0
            return sack
        }
    }
}
