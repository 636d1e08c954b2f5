import ParleyWire

extension SCTPAssociation {
    /// A user or DCEP message waiting for its first transmission; it has no TSN or SSN yet,
    /// so dropping it (lifetime over) leaves no trace on the wire.
    struct OutboundMessage {
        var streamID: UInt16
        var isUnordered: Bool
        var payloadProtocolIdentifier: UInt32
        var payload: [UInt8]
        var maxRetransmits: UInt32?
        var expiresAt: Instant?
    }

    /// One DATA chunk with a TSN, from its assignment until the peer's cumulative TSN passes it.
    struct OutboundChunk {
        enum Status: Equatable {
            case unsent, inFlight, needsRetransmit, acked, abandoned
        }

        var data: SCTPDataChunk
        var messageID: UInt64
        var maxRetransmits: UInt32?
        var expiresAt: Instant?
        var status = Status.unsent
        var transmissions = 0
        var missIndications = 0
        var fastRetransmitted = false

        var size: Int { data.userData.count }
    }

    /// What one SACK did.
    struct AcknowledgementOutcome {
        var isValid = true
        var cumulativeAdvanced = false
        var roundTrip: Duration?
    }

    /// The sending half (RFC 9260 §6.1–§6.3, §7.2; RFC 3758 §3.5): the message queue,
    /// fragmentation, TSN assignment, the retransmission queue, congestion and flow control.
    struct Sender {
        let packetSize: Int
        let fragmentSize: Int
        let sendBufferSize: Int
        var nextTSN: UInt32
        /// The peer's Cumulative TSN Ack: everything up to it is delivered or abandoned.
        var cumulativeAck: UInt32
        /// Advanced.Peer.Ack.Point (RFC 3758 §3.5): the cumulative ack plus abandoned chunks.
        var advancedPeerAckPoint: UInt32
        var forwardTSNPending = false
        var queue: [OutboundMessage] = []
        var queueHead = 0
        var queuedBytes = 0
        /// Chunks in TSN order; `outstanding[0]` has TSN `cumulativeAck + 1`.
        var outstanding: [OutboundChunk] = []
        /// `outstanding[0..<sentPrefix]` have been sent at least once (or abandoned unsent).
        var sentPrefix = 0
        var outstandingBytes = 0
        var flightSize = 0
        var nextSSN: [UInt16: UInt16] = [:]
        var nextMessageID: UInt64 = 0
        var peerWindow = 0
        var congestionWindow: Int
        var slowStartThreshold = Int.max
        var partialBytesAcked = 0
        var fastRecoveryExit: UInt32?
        var retransmissionDeadline: Instant?
        var consecutiveTimeouts = 0
        var roundTripProbe: (tsn: UInt32, sentAt: Instant)?

        init(initialTSN: UInt32, configuration: Configuration) {
            packetSize = configuration.maxPacketSize
            // Room for the common header, the DATA header and a small SACK in the same packet.
            fragmentSize = max(64, configuration.maxPacketSize - SCTPPacket.headerLength - SCTPDataChunk.headerLength - 32)
            sendBufferSize = configuration.sendBufferSize
            nextTSN = initialTSN
            cumulativeAck = initialTSN &- 1
            advancedPeerAckPoint = initialTSN &- 1
            // §7.2.1: min(4 * MTU, max(2 * MTU, 4404)).
            congestionWindow = min(4 * packetSize, max(2 * packetSize, 4404))
        }

        /// §6.2.1 and §7.2.1: the peer's window and the slow-start threshold start from its a_rwnd.
        mutating func start(peerWindow window: UInt32) {
            peerWindow = Int(window)
            slowStartThreshold = Int(window)
        }

        var bufferedAmount: Int { queuedBytes + outstandingBytes }

        /// Nothing queued and nothing waiting for acknowledgement (§9.2).
        var isIdle: Bool { queueHead == queue.count && outstanding.isEmpty }

        func hasQueuedMessages(on streamID: UInt16) -> Bool {
            queue[queueHead...].contains { $0.streamID == streamID }
        }

        mutating func enqueue(_ message: OutboundMessage) throws(SCTPAssociation.Error) {
            guard bufferedAmount + message.payload.count <= sendBufferSize else { throw .sendBufferFull }
            queue.append(message)
            queuedBytes += message.payload.count
        }

        mutating func stop() {
            retransmissionDeadline = nil
        }

        mutating func resetStream(_ streamID: UInt16) {
            nextSSN[streamID] = nil
        }

        // MARK: Transmission

        /// DATA chunks to send now: retransmissions first, then new data, within the
        /// congestion window and the peer's receive window (§6.1).
        mutating func nextChunks(now: Instant) -> [SCTPDataChunk] {
            abandonExpired(now: now)
            var chunks: [SCTPDataChunk] = []
            for index in 0..<sentPrefix where outstanding[index].status == .needsRetransmit {
                if let limit = outstanding[index].maxRetransmits, outstanding[index].transmissions > Int(limit) {
                    abandon(messageID: outstanding[index].messageID)
                    continue
                }
                guard flightSize < congestionWindow else { break }
                transmit(at: index, now: now)
                chunks.append(outstanding[index].data)
            }
            while flightSize < congestionWindow {
                if sentPrefix == outstanding.count, !assignNextMessage() { break }
                guard sentPrefix < outstanding.count else { break }
                if outstanding[sentPrefix].status == .abandoned {
                    sentPrefix += 1
                    continue
                }
                // §6.1 rule A: respect the peer's window, but allow one chunk when nothing is
                // in flight so a closed window is probed.
                guard outstanding[sentPrefix].size <= peerWindow || flightSize == 0 else { break }
                transmit(at: sentPrefix, now: now)
                chunks.append(outstanding[sentPrefix].data)
                sentPrefix += 1
            }
            return chunks
        }

        private mutating func transmit(at index: Int, now: Instant) {
            outstanding[index].status = .inFlight
            outstanding[index].transmissions += 1
            outstanding[index].missIndications = 0
            flightSize += outstanding[index].size
            peerWindow = max(0, peerWindow - outstanding[index].size)
            let tsn = outstanding[index].data.tsn
            if outstanding[index].transmissions == 1 {
                if roundTripProbe == nil { roundTripProbe = (tsn, now) }
            } else if roundTripProbe?.tsn == tsn {
                // Karn's rule (§6.3.1 C5): no sample from a retransmitted chunk.
                roundTripProbe = nil
            }
        }

        /// Fragments the next queued message and gives its chunks TSNs and, when ordered, its SSN.
        private mutating func assignNextMessage() -> Bool {
            guard queueHead < queue.count else { return false }
            let message = queue[queueHead]
            queueHead += 1
            queuedBytes -= message.payload.count
            if queueHead > 64, queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            var ssn: UInt16 = 0
            if !message.isUnordered {
                ssn = nextSSN[message.streamID, default: 0]
                nextSSN[message.streamID] = ssn &+ 1
            }
            let messageID = nextMessageID
            nextMessageID += 1
            var offset = 0
            repeat {
                let end = min(offset + fragmentSize, message.payload.count)
                let data = SCTPDataChunk(
                    tsn: nextTSN, streamID: message.streamID, streamSequenceNumber: ssn,
                    payloadProtocolIdentifier: message.payloadProtocolIdentifier, isUnordered: message.isUnordered,
                    isBeginning: offset == 0, isEnding: end == message.payload.count,
                    userData: Array(message.payload[offset..<end]))
                outstanding.append(OutboundChunk(data: data, messageID: messageID, maxRetransmits: message.maxRetransmits,
                                                 expiresAt: message.expiresAt))
                outstandingBytes += data.userData.count
                nextTSN &+= 1
                offset = end
            } while offset < message.payload.count
            return true
        }

        // MARK: Partial reliability (RFC 3758)

        /// Drops queued messages and abandons sent ones whose lifetime is over (RFC 3758 §3.5 A1).
        mutating func abandonExpired(now: Instant) {
            let expiredQueued = queue[queueHead...].filter { $0.expiresAt.map { $0 <= now } ?? false }
            if !expiredQueued.isEmpty {
                queuedBytes -= expiredQueued.reduce(0) { $0 + $1.payload.count }
                queue = queue[queueHead...].filter { !($0.expiresAt.map { $0 <= now } ?? false) }
                queueHead = 0
            }
            for index in outstanding.indices where outstanding[index].status != .abandoned {
                if let expiry = outstanding[index].expiresAt, expiry <= now, outstanding[index].status != .acked {
                    abandon(messageID: outstanding[index].messageID)
                }
            }
        }

        /// Abandons every chunk of one message (RFC 3758 §3.5 A3).
        mutating func abandon(messageID: UInt64) {
            for index in outstanding.indices where outstanding[index].messageID == messageID {
                switch outstanding[index].status {
                case .abandoned: continue
                case .inFlight: flightSize -= outstanding[index].size
                default: break
                }
                outstanding[index].status = .abandoned
                outstandingBytes -= outstanding[index].size
            }
            advanceAckPoint()
        }

        /// Moves Advanced.Peer.Ack.Point over abandoned chunks (RFC 3758 §3.5 C1).
        private mutating func advanceAckPoint() {
            var index = Int(advancedPeerAckPoint &- cumulativeAck)
            while index < outstanding.count, outstanding[index].status == .abandoned {
                advancedPeerAckPoint &+= 1
                index += 1
            }
            if cumulativeAck.tsnPrecedes(advancedPeerAckPoint) { forwardTSNPending = true }
        }

        /// The FORWARD-TSN to send, if abandoned chunks lie past the cumulative ack (RFC 3758 §3.5 C2).
        mutating func makeForwardTSN() -> SCTPForwardTSN? {
            guard forwardTSNPending, cumulativeAck.tsnPrecedes(advancedPeerAckPoint) else { return nil }
            forwardTSNPending = false
            var skipped: [UInt16: UInt16] = [:]
            for chunk in outstanding.prefix(Int(advancedPeerAckPoint &- cumulativeAck)) where !chunk.data.isUnordered {
                skipped[chunk.data.streamID] = chunk.data.streamSequenceNumber
            }
            return SCTPForwardTSN(
                newCumulativeTSN: advancedPeerAckPoint,
                skippedStreams: skipped.keys.sorted().map { .init(streamID: $0, streamSequenceNumber: skipped[$0] ?? 0) })
        }

        var forwardTSNOutstanding: Bool { cumulativeAck.tsnPrecedes(advancedPeerAckPoint) }

        // MARK: Acknowledgement (§6.2.1, §7.2)

        mutating func process(_ sack: SCTPSelectiveAck, now: Instant, rto: Duration) -> AcknowledgementOutcome {
            var outcome = AcknowledgementOutcome()
            let cumulative = sack.cumulativeTSNAck
            // §6.2.1 D-i: an older cumulative ack is out of date.
            guard !cumulative.tsnPrecedes(cumulativeAck) else { return outcome }
            let newlyAcked = Int(cumulative &- cumulativeAck)
            guard newlyAcked <= sentPrefix else {
                outcome.isValid = false
                return outcome
            }
            let flightBefore = flightSize
            var ackedBytes = 0
            for chunk in outstanding.prefix(newlyAcked) {
                switch chunk.status {
                case .inFlight:
                    flightSize -= chunk.size
                    ackedBytes += chunk.size
                case .needsRetransmit: ackedBytes += chunk.size
                default: break
                }
                if chunk.status != .abandoned { outstandingBytes -= chunk.size }
                if let probe = roundTripProbe, probe.tsn == chunk.data.tsn {
                    outcome.roundTrip = now - probe.sentAt
                    roundTripProbe = nil
                }
            }
            if newlyAcked > 0 {
                outstanding.removeFirst(newlyAcked)
                sentPrefix -= newlyAcked
                cumulativeAck = cumulative
                outcome.cumulativeAdvanced = true
                consecutiveTimeouts = 0
                if cumulativeAck.tsnPrecedes(advancedPeerAckPoint) == false { advancedPeerAckPoint = cumulativeAck }
            }
            var highestGapIndex = -1
            for block in sack.gapAckBlocks where block.start >= 1 && block.start <= block.end {
                let first = Int(block.start) - 1
                let last = min(Int(block.end) - 1, sentPrefix - 1)
                guard first <= last else { continue }
                for index in first...last {
                    switch outstanding[index].status {
                    case .inFlight:
                        flightSize -= outstanding[index].size
                        outstanding[index].status = .acked
                    case .needsRetransmit: outstanding[index].status = .acked
                    default: break
                    }
                    if let probe = roundTripProbe, probe.tsn == outstanding[index].data.tsn {
                        outcome.roundTrip = now - probe.sentAt
                        roundTripProbe = nil
                    }
                }
                highestGapIndex = max(highestGapIndex, last)
            }
            if let exit = fastRecoveryExit, !cumulativeAck.tsnPrecedes(exit) { fastRecoveryExit = nil }
            countMissIndications(below: highestGapIndex)
            if outcome.cumulativeAdvanced, fastRecoveryExit == nil {
                growCongestionWindow(ackedBytes: ackedBytes, flightBefore: flightBefore)
            }
            peerWindow = max(0, Int(sack.advertisedReceiverWindowCredit) - flightSize)
            advanceAckPoint()
            if flightSize == 0, !forwardTSNOutstanding {
                retransmissionDeadline = nil
            } else if outcome.cumulativeAdvanced {
                retransmissionDeadline = now + rto
            }
            return outcome
        }

        /// Fast retransmit (§7.2.4): a chunk reported missing by three SACKs is resent once.
        private mutating func countMissIndications(below highestGapIndex: Int) {
            guard highestGapIndex > 0 else { return }
            var enterRecovery = false
            for index in 0..<highestGapIndex where outstanding[index].status == .inFlight {
                outstanding[index].missIndications += 1
                guard outstanding[index].missIndications >= 3, !outstanding[index].fastRetransmitted else { continue }
                outstanding[index].status = .needsRetransmit
                outstanding[index].fastRetransmitted = true
                flightSize -= outstanding[index].size
                enterRecovery = true
            }
            if enterRecovery, fastRecoveryExit == nil {
                slowStartThreshold = max(congestionWindow / 2, 4 * packetSize)
                congestionWindow = slowStartThreshold
                partialBytesAcked = 0
                fastRecoveryExit = nextTSN &- 1
            }
        }

        /// Slow start and congestion avoidance (§7.2.1, §7.2.2), growing only when the window
        /// was in use.
        private mutating func growCongestionWindow(ackedBytes: Int, flightBefore: Int) {
            guard flightBefore + packetSize >= congestionWindow else { return }
            if congestionWindow <= slowStartThreshold {
                congestionWindow += min(ackedBytes, packetSize)
            } else {
                partialBytesAcked += ackedBytes
                if partialBytesAcked >= congestionWindow {
                    partialBytesAcked -= congestionWindow
                    congestionWindow += packetSize
                }
            }
        }

        /// The retransmission timer expired (§6.3.3, §7.2.3): everything in flight is resent,
        /// starting again from a one-packet window. Returns false past Association.Max.Retrans.
        mutating func retransmissionTimerFired(maxRetransmissions: Int) -> Bool {
            retransmissionDeadline = nil
            consecutiveTimeouts += 1
            guard consecutiveTimeouts <= maxRetransmissions else { return false }
            slowStartThreshold = max(congestionWindow / 2, 4 * packetSize)
            congestionWindow = packetSize
            partialBytesAcked = 0
            fastRecoveryExit = nil
            roundTripProbe = nil
            for index in 0..<sentPrefix where outstanding[index].status == .inFlight {
                outstanding[index].status = .needsRetransmit
            }
            flightSize = 0
            if forwardTSNOutstanding { forwardTSNPending = true }
            return true
        }

        /// Starts the retransmission timer when something is outstanding and it is not running (§6.3.2 R1).
        mutating func armTimer(now: Instant, rto: Duration) {
            if flightSize > 0 || forwardTSNOutstanding {
                if retransmissionDeadline == nil { retransmissionDeadline = now + rto }
            } else {
                retransmissionDeadline = nil
            }
        }

        /// SHUTDOWN's Cumulative TSN Ack acknowledges like a SACK without gaps (§9.2).
        mutating func processShutdownAck(_ cumulative: UInt32, now: Instant, rto: Duration) {
            _ = process(SCTPSelectiveAck(cumulativeTSNAck: cumulative, advertisedReceiverWindowCredit: UInt32(peerWindow + flightSize)),
                        now: now, rto: rto)
        }
    }
}
