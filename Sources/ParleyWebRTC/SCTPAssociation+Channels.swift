import ParleyWire

extension SCTPAssociation {
    /// One data channel on one stream, both directions.
    struct ChannelState {
        var info: DataChannel.Info
        /// The peer acknowledged our DATA_CHANNEL_OPEN (always true for a peer's channel).
        var acknowledged: Bool
        /// Our outgoing stream is being or has been reset.
        var closing = false
        var outgoingReset = false
        var incomingReset = false
    }

    /// Opens a channel by sending DATA_CHANNEL_OPEN (RFC 8832 §6) on the lowest free stream ID
    /// of our parity (even for the DTLS client). Messages may be sent on it at once; they go
    /// ordered until the peer's DATA_CHANNEL_ACK arrives, which reports `.channelOpened`.
    public func openChannel(label: String, protocol: String = "", ordered: Bool = true,
                            reliability: DataChannel.Reliability = .reliable, priority: UInt16 = 256,
                            now: Instant) throws(SCTPAssociation.Error) -> UInt16 {
        guard state == .established else { throw .notEstablished }
        guard label.utf8.count <= Int(UInt16.max), `protocol`.utf8.count <= Int(UInt16.max) else { throw .labelTooLong }
        let limit = Int(min(outboundStreamCount, inboundStreamCount))
        guard let streamID = stride(from: configuration.isDTLSClient ? 0 : 1, to: limit, by: 2)
            .lazy.map({ UInt16($0) }).first(where: { self.channels[$0] == nil }) else { throw .noStreamAvailable }
        let info = DataChannel.Info(streamID: streamID, label: label, protocol: `protocol`, ordered: ordered,
                                    reliability: reliability, priority: priority, openedByPeer: false)
        try sender.enqueue(OutboundMessage(streamID: streamID, isUnordered: false,
                                           payloadProtocolIdentifier: DCEPMessage.payloadProtocolIdentifier,
                                           payload: DCEPMessage.open(info.openMessage).serialized()))
        channels[streamID] = ChannelState(info: info, acknowledged: false)
        flush(now: now)
        return streamID
    }

    /// Queues one message on a channel (RFC 8831 §6.6) with the channel's reliability.
    public func send(_ message: DataChannel.Message, on streamID: UInt16, now: Instant) throws(SCTPAssociation.Error) {
        guard state == .established else { throw .notEstablished }
        guard let channel = channels[streamID] else { throw .unknownChannel(streamID) }
        guard !channel.closing else { throw .channelClosing(streamID) }
        let (payloadProtocolIdentifier, payload) = message.encoded
        guard payload.count <= configuration.maxMessageSize else {
            throw .messageTooLarge(size: payload.count, limit: configuration.maxMessageSize)
        }
        var maxRetransmits: UInt32?
        var expiresAt: Instant?
        // Without FORWARD-TSN (RFC 3758 §3.3) an abandoned message would stall the peer: stay reliable.
        switch peerSupportsForwardTSN ? channel.info.reliability : .reliable {
        case .reliable: break
        case .maxRetransmits(let count): maxRetransmits = count
        case .maxLifetime(let milliseconds): expiresAt = now + .milliseconds(Int64(milliseconds))
        }
        // RFC 8832 §6: until the ACK arrives, send ordered so the OPEN is delivered first.
        try sender.enqueue(OutboundMessage(
            streamID: streamID, isUnordered: !channel.info.ordered && channel.acknowledged,
            payloadProtocolIdentifier: payloadProtocolIdentifier, payload: payload,
            maxRetransmits: maxRetransmits, expiresAt: expiresAt))
        flush(now: now)
    }

    /// Closes a channel the way browsers do (RFC 8831 §6.7): once its queued messages have
    /// TSNs, our outgoing stream is reset; the peer then resets its own, and `.channelClosed`
    /// follows when both directions are reset.
    public func closeChannel(_ streamID: UInt16, now: Instant) {
        guard var channel = channels[streamID], !channel.closing else { return }
        channel.closing = true
        channels[streamID] = channel
        beginOutgoingReset(of: streamID)
        if isEstablished { flush(now: now) }
    }

    /// Bytes of messages queued or unacknowledged, like `RTCDataChannel.bufferedAmount` summed
    /// over channels.
    public var bufferedAmount: Int { sender.bufferedAmount }

    /// The information of the channels currently open or opening.
    public var openChannels: [DataChannel.Info] {
        channels.keys.sorted().compactMap { channels[$0]?.info }
    }

    private func beginOutgoingReset(of streamID: UInt16) {
        guard peerSupportsReconfig else {
            // Without RE-CONFIG a stream cannot be reset; the channel just ends here.
            channels[streamID] = nil
            return emit(.channelClosed(streamID: streamID))
        }
        if !streamReset.pendingStreams.contains(streamID) { streamReset.pendingStreams.append(streamID) }
    }

    // MARK: Delivery and DCEP (RFC 8832)

    func deliver(_ messages: [InboundMessage], verdict: inout Verdict) {
        for message in messages {
            if message.payloadProtocolIdentifier == DCEPMessage.payloadProtocolIdentifier {
                handleDCEP(message, verdict: &verdict)
                continue
            }
            guard var channel = channels[message.streamID] else {
                record(.invalidStream, in: &verdict)
                continue
            }
            guard let userMessage = DataChannel.Message(payloadProtocolIdentifier: message.payloadProtocolIdentifier,
                                                        payload: message.payload) else {
                let isText = message.payloadProtocolIdentifier == DataChannel.PayloadProtocol.string
                record(isText ? .malformedText : .unknownPayloadProtocol, in: &verdict)
                continue
            }
            if !channel.acknowledged {
                // RFC 8832 §6: user data on the stream means the peer took our OPEN.
                channel.acknowledged = true
                channels[message.streamID] = channel
                emit(.channelOpened(channel.info))
            }
            emit(.message(streamID: message.streamID, userMessage))
        }
    }

    private func handleDCEP(_ message: InboundMessage, verdict: inout Verdict) {
        let dcep: DCEPMessage
        do {
            dcep = try DCEPMessage(parsing: message.payload)
        } catch {
            return record(.malformedDCEP, in: &verdict)
        }
        let streamID = message.streamID
        switch dcep {
        case .open(let open):
            guard channels[streamID] == nil, state == .established else { return record(.unexpectedDCEP, in: &verdict) }
            let info = DataChannel.Info(streamID: streamID, open: open)
            channels[streamID] = ChannelState(info: info, acknowledged: true)
            // The ACK goes reliably and in order on the same stream (RFC 8832 §6).
            try? sender.enqueue(OutboundMessage(streamID: streamID, isUnordered: false,
                                                payloadProtocolIdentifier: DCEPMessage.payloadProtocolIdentifier,
                                                payload: DCEPMessage.ack.serialized()))
            emit(.channelOpened(info))
        case .ack:
            guard var channel = channels[streamID], !channel.info.openedByPeer, !channel.acknowledged else {
                return record(.unexpectedDCEP, in: &verdict)
            }
            channel.acknowledged = true
            channels[streamID] = channel
            emit(.channelOpened(channel.info))
        }
    }

    // MARK: Stream reset (RFC 6525)

    func handleReconfig(_ parameters: [SCTPReconfigParameter], now: Instant, verdict: inout Verdict) {
        for parameter in parameters {
            switch parameter {
            case .outgoingResetRequest(let request, _, let lastTSN, let streams):
                let result = answerOutgoingReset(request: request, senderLastAssignedTSN: lastTSN, streams: streams)
                controlChunks.append(.reconfig([.response(responseSequence: request, result: result)]))
            case .incomingResetRequest(let request, let streams):
                // RFC 6525 §5.2.3: our own Outgoing SSN Reset Request is the answer.
                if request == streamReset.peerNextRequestSequence {
                    streamReset.peerNextRequestSequence &+= 1
                    for stream in streams { closeForPeer(stream) }
                } else if request != streamReset.peerNextRequestSequence &- 1 {
                    controlChunks.append(.reconfig([.response(responseSequence: request, result: .errorBadSequenceNumber)]))
                }
            case .response(let response, let result):
                handleResetResponse(response, result: result, now: now)
            case .unknown:
                record(.unrecognizedChunk, in: &verdict)
            }
        }
    }

    /// RFC 6525 §5.2.2: reset the peer's streams once every TSN it sent before is here.
    private func answerOutgoingReset(request: UInt32, senderLastAssignedTSN: UInt32, streams: [UInt16]) -> SCTPReconfigResult {
        if request == streamReset.peerNextRequestSequence &- 1, let last = streamReset.lastResponse, last.sequence == request {
            return last.result
        }
        guard request == streamReset.peerNextRequestSequence else { return .errorBadSequenceNumber }
        guard !receiver.cumulativeTSN.tsnPrecedes(senderLastAssignedTSN) else {
            // Deferred reset processing: done as soon as the missing TSNs arrive.
            streamReset.deferredPeerRequest = (request, senderLastAssignedTSN, streams)
            return .inProgress
        }
        streamReset.deferredPeerRequest = nil
        let resetStreams = streams.isEmpty ? Array(channels.keys) : streams
        for stream in resetStreams {
            receiver.resetStream(stream)
            guard var channel = channels[stream] else { continue }
            channel.incomingReset = true
            channels[stream] = channel
            closeForPeer(stream)
            finishCloseIfDone(stream)
        }
        streamReset.peerNextRequestSequence &+= 1
        streamReset.lastResponse = (request, .successPerformed)
        return .successPerformed
    }

    /// The peer closed its direction: close ours too, as browsers do (RFC 8831 §6.7).
    private func closeForPeer(_ stream: UInt16) {
        guard var channel = channels[stream], !channel.closing else { return }
        channel.closing = true
        channels[stream] = channel
        beginOutgoingReset(of: stream)
    }

    private func handleResetResponse(_ response: UInt32, result: SCTPReconfigResult, now: Instant) {
        guard let request = streamReset.outstanding, request.sequence == response else { return }
        if result == .inProgress {
            streamReset.requestDeadline = now + rto
            return
        }
        // Performed, nothing to do, or refused: either way the stream is done with on our side.
        streamReset.outstanding = nil
        streamReset.requestDeadline = nil
        streamReset.retransmissions = 0
        for stream in request.streams {
            guard var channel = channels[stream] else { continue }
            channel.outgoingReset = true
            channels[stream] = channel
            finishCloseIfDone(stream)
        }
    }

    private func finishCloseIfDone(_ stream: UInt16) {
        guard let channel = channels[stream], channel.outgoingReset, channel.incomingReset else { return }
        channels[stream] = nil
        emit(.channelClosed(streamID: stream))
    }

    /// Our pending Outgoing SSN Reset Request (RFC 6525 §5.1.2), when one may go: one at a
    /// time, after the streams' queued messages have TSNs.
    private func streamResetChunk(now: Instant) -> SCTPChunk? {
        if streamReset.outstanding == nil, !streamReset.pendingStreams.isEmpty,
           !streamReset.pendingStreams.contains(where: sender.hasQueuedMessages(on:)) {
            let streams = streamReset.pendingStreams
            streamReset.pendingStreams = []
            streamReset.outstanding = (streamReset.nextRequestSequence, streams, sender.nextTSN &- 1)
            streamReset.nextRequestSequence &+= 1
            streamReset.requestNeedsSending = true
            for stream in streams { sender.resetStream(stream) }
        }
        guard streamReset.requestNeedsSending, let request = streamReset.outstanding else { return nil }
        streamReset.requestNeedsSending = false
        streamReset.retransmissions += 1
        if streamReset.retransmissions > configuration.maxAssociationRetransmits {
            handleResetResponse(request.sequence, result: .denied, now: now)
            return nil
        }
        streamReset.requestDeadline = now + rto
        return .reconfig([.outgoingResetRequest(
            requestSequence: request.sequence, responseSequence: streamReset.peerNextRequestSequence &- 1,
            senderLastAssignedTSN: request.lastTSN, streams: request.streams)])
    }

    // MARK: Output

    /// Sends what is due: control chunks, a SACK, FORWARD-TSN, DATA within the windows, and
    /// a stream reset request; then moves the shutdown along.
    func flush(now: Instant) {
        guard isEstablished else { return }
        if let deferred = streamReset.deferredPeerRequest, !receiver.cumulativeTSN.tsnPrecedes(deferred.lastTSN) {
            let result = answerOutgoingReset(request: deferred.sequence, senderLastAssignedTSN: deferred.lastTSN,
                                             streams: deferred.streams)
            controlChunks.append(.reconfig([.response(responseSequence: deferred.sequence, result: result)]))
        }
        var chunks = controlChunks
        controlChunks = []
        let data = sender.nextChunks(now: now)
        if receiver.sackDue || (receiver.sackDeadline != nil && !data.isEmpty) {
            chunks.append(.selectiveAck(receiver.makeSACK()))
        }
        if peerSupportsForwardTSN, let forward = sender.makeForwardTSN() { chunks.append(.forwardTSN(forward)) }
        chunks += data.map(SCTPChunk.data)
        if let reset = streamResetChunk(now: now) { chunks.append(reset) }
        if !chunks.isEmpty { send(packet: chunks, verificationTag: peerTag) }
        sender.armTimer(now: now, rto: rto)
        advanceShutdown(now: now)
    }
}

extension SCTPAssociation {
    /// Stream reset bookkeeping (RFC 6525 §5): request sequence numbers both ways, our one
    /// outstanding request, and streams waiting for the next one.
    struct StreamReset {
        var nextRequestSequence: UInt32
        var peerNextRequestSequence: UInt32 = 0
        var lastResponse: (sequence: UInt32, result: SCTPReconfigResult)?
        /// A peer's request answered "in progress" (RFC 6525 §5.2.2), performed once its
        /// last TSN has arrived.
        var deferredPeerRequest: (sequence: UInt32, lastTSN: UInt32, streams: [UInt16])?
        var pendingStreams: [UInt16] = []
        var outstanding: (sequence: UInt32, streams: [UInt16], lastTSN: UInt32)?
        var requestNeedsSending = false
        var requestDeadline: Instant?
        var retransmissions = 0

        /// RFC 6525 §5.1.1: request sequence numbers start at the initial TSN.
        init(localInitialTSN: UInt32) {
            nextRequestSequence = localInitialTSN
        }
    }
}
