import ParleyWire

extension SCTPAssociation {
    /// Validates one packet (checksum, ports, verification tag) and runs its chunks in order.
    func process(_ bytes: [UInt8], now: Instant, verdict: inout Verdict) {
        guard state != .terminated else { return record(.associationClosed, in: &verdict) }
        let header: SCTPCommonHeader
        let results: [Result<SCTPChunk, SCTPParseError>]
        do {
            (header, results) = try SCTPPacket.parseLeniently(bytes)
        } catch {
            if case .checksumMismatch = error { return record(.badChecksum, in: &verdict) }
            return record(.malformedPacket, in: &verdict)
        }
        guard header.destinationPort == configuration.localPort, header.sourcePort == configuration.remotePort else {
            return record(.wrongPorts, in: &verdict)
        }
        guard verificationTagAccepted(header.verificationTag, results) else {
            return record(.wrongVerificationTag, in: &verdict)
        }
        var carriedData = false
        var immediate = false
        for result in results {
            guard case .success(let chunk) = result else {
                record(.malformedChunk, in: &verdict)
                continue
            }
            if case .data(let data) = chunk, isEstablished {
                carriedData = true
                immediate = immediate || data.isImmediate
            }
            guard handle(chunk, now: now, verdict: &verdict), state != .terminated else { break }
        }
        if carriedData, state != .terminated { receiver.notePacketWithData(now: now, immediate: immediate) }
    }

    /// §8.5, §8.5.1: INIT carries tag 0 and travels alone; ABORT and SHUTDOWN-COMPLETE with
    /// the T bit carry the peer's own tag; everything else carries ours.
    private func verificationTagAccepted(_ tag: UInt32, _ results: [Result<SCTPChunk, SCTPParseError>]) -> Bool {
        if case .success(.initiation) = results.first { return tag == 0 && results.count == 1 }
        let reflected = results.contains { result in
            switch result {
            case .success(.abort(true, _)), .success(.shutdownComplete(true)): true
            default: false
            }
        }
        if reflected { return peerTag != 0 && tag == peerTag }
        return tag == localTag
    }

    /// Runs one chunk; returns false when the rest of the packet must not be processed.
    private func handle(_ chunk: SCTPChunk, now: Instant, verdict: inout Verdict) -> Bool {
        switch chunk {
        case .initiation(let initiation):
            answer(initiation, now: now)
        case .initiationAck(let initiationAck):
            handleInitiationAck(initiationAck, now: now, verdict: &verdict)
        case .cookieEcho(let cookie):
            handleCookieEcho(cookie, now: now, verdict: &verdict)
        case .cookieAck:
            if state == .cookieEchoed, let peer = pendingPeer { establish(with: peer) }
        case .data(let data):
            guard isEstablished else {
                record(.unexpectedChunk, in: &verdict)
                return true
            }
            receiveData(data, now: now, verdict: &verdict)
        case .selectiveAck(let sack):
            guard isEstablished else {
                record(.unexpectedChunk, in: &verdict)
                return true
            }
            let outcome = sender.process(sack, now: now, rto: rto)
            if !outcome.isValid { record(.invalidAcknowledgement, in: &verdict) }
            if let roundTrip = outcome.roundTrip { updateRTO(measured: roundTrip) }
        case .heartbeat(let info):
            // §8.3: answer with the same Heartbeat Info; only to a peer we know.
            guard peerTag != 0, state != .closed else {
                record(.unexpectedChunk, in: &verdict)
                return true
            }
            controlChunks.append(.heartbeatAck(info: info))
        case .heartbeatAck, .operationError:
            break
        case .abort(_, let causes):
            guard state != .closed else {
                record(.unexpectedChunk, in: &verdict)
                return false
            }
            terminate(.abortedByPeer(cause: causes.first?.code))
            return false
        case .shutdown(let cumulativeTSNAck):
            handleShutdown(cumulativeTSNAck: cumulativeTSNAck, now: now, verdict: &verdict)
        case .shutdownAck:
            guard state == .shutdownSent || state == .shutdownAckSent else {
                record(.unexpectedChunk, in: &verdict)
                return true
            }
            send(packet: [.shutdownComplete(reflectedTag: false)], verificationTag: peerTag)
            terminate(.shutdown)
            return false
        case .shutdownComplete:
            guard state == .shutdownAckSent else {
                record(.unexpectedChunk, in: &verdict)
                return true
            }
            terminate(.shutdown)
            return false
        case .forwardTSN(let forward):
            guard isEstablished else {
                record(.unexpectedChunk, in: &verdict)
                return true
            }
            let outcome = receiver.receive(forward, inboundStreams: inboundStreamCount)
            deliver(outcome.messages, verdict: &verdict)
        case .reconfig(let parameters):
            guard isEstablished else {
                record(.unexpectedChunk, in: &verdict)
                return true
            }
            handleReconfig(parameters, now: now, verdict: &verdict)
        case .unknown(let type, _, _):
            record(.unrecognizedChunk, in: &verdict)
            // §3.2: when the high bit of the type is clear, stop processing the packet.
            return type & 0x80 != 0
        }
        return true
    }

    private func receiveData(_ data: SCTPDataChunk, now: Instant, verdict: inout Verdict) {
        let outcome = receiver.receive(data, inboundStreams: inboundStreamCount)
        if let drop = outcome.drop {
            record(drop, in: &verdict)
            if drop == .invalidStream {
                let information: [UInt8] = [UInt8(data.streamID >> 8), UInt8(data.streamID & 0xFF), 0, 0]
                controlChunks.append(.operationError(causes: [
                    SCTPErrorCause(code: SCTPErrorCause.Code.invalidStreamIdentifier, information: information),
                ]))
            }
        }
        deliver(outcome.messages, verdict: &verdict)
    }

    // MARK: Handshake (§5.1, §5.2)

    /// Answers an INIT with an INIT-ACK and a sealed cookie, keeping no state (§5.1 B). While
    /// our own INIT is out the answer carries the same tag and TSN (§5.2.1), and since this
    /// endpoint keeps one tag for its whole life, every answer does.
    private func answer(_ initiation: SCTPInitChunk, now: Instant) {
        guard state != .shutdownAckSent else { return }
        let cookie = SCTPStateCookie(
            localTag: localTag, peerTag: initiation.initiateTag, peerInitialTSN: initiation.initialTSN,
            peerReceiverWindow: initiation.advertisedReceiverWindowCredit,
            peerOutboundStreams: initiation.outboundStreams, peerInboundStreams: initiation.inboundStreams,
            peerSupportsForwardTSN: initiation.supportsForwardTSN, peerSupportsReconfig: initiation.supportsReconfig,
            createdAt: now.nanoseconds)
        var initiationAck = self.initiation
        initiationAck.parameters.append(.stateCookie(cookie.sealed(key: cookieKey)))
        send(packet: [.initiationAck(initiationAck)], verificationTag: initiation.initiateTag)
    }

    private func handleInitiationAck(_ initiationAck: SCTPInitChunk, now: Instant, verdict: inout Verdict) {
        // §5.2.3: an INIT-ACK in any other state is a late duplicate.
        guard state == .cookieWait else { return }
        guard let cookie = initiationAck.stateCookie else { return record(.malformedChunk, in: &verdict) }
        pendingPeer = PeerParameters(initiationAck)
        peerTag = initiationAck.initiateTag
        state = .cookieEchoed
        handshakeChunk = .cookieEcho(cookie: cookie)
        handshakeTimer = Timer(deadline: now + configuration.initialRTO)
        send(packet: [.cookieEcho(cookie: cookie)], verificationTag: peerTag)
    }

    /// §5.1 D and §5.2.4: a valid cookie makes the association, or, when it names the
    /// association we already have, is answered again.
    private func handleCookieEcho(_ bytes: [UInt8], now: Instant, verdict: inout Verdict) {
        guard let cookie = try? SCTPStateCookie(opening: bytes, key: cookieKey), cookie.localTag == localTag else {
            return record(.invalidCookie, in: &verdict)
        }
        let age = now - Instant(nanoseconds: cookie.createdAt)
        guard age >= .zero, age <= configuration.cookieLifetime else { return record(.staleCookie, in: &verdict) }
        if isEstablished {
            // §5.2.4 action D: the same association; the COOKIE-ACK was lost. A different peer
            // tag would be a restart, which WebRTC does not use.
            guard cookie.peerTag == peerTag else { return record(.unexpectedChunk, in: &verdict) }
            controlChunks.insert(.cookieAck, at: 0)
            return
        }
        guard state == .closed || state == .cookieWait || state == .cookieEchoed else {
            return record(.unexpectedChunk, in: &verdict)
        }
        establish(with: PeerParameters(
            tag: cookie.peerTag, initialTSN: cookie.peerInitialTSN, receiverWindow: cookie.peerReceiverWindow,
            outboundStreams: cookie.peerOutboundStreams, inboundStreams: cookie.peerInboundStreams,
            supportsForwardTSN: cookie.peerSupportsForwardTSN, supportsReconfig: cookie.peerSupportsReconfig))
        // §5.1 E: COOKIE-ACK goes first in its packet.
        controlChunks.insert(.cookieAck, at: 0)
    }

    func establish(with peer: PeerParameters) {
        peerTag = peer.tag
        peerSupportsForwardTSN = peer.supportsForwardTSN
        peerSupportsReconfig = peer.supportsReconfig
        outboundStreamCount = min(configuration.maxStreams, peer.inboundStreams)
        inboundStreamCount = min(configuration.maxStreams, peer.outboundStreams)
        receiver.start(peerInitialTSN: peer.initialTSN)
        sender.start(peerWindow: peer.receiverWindow)
        streamReset.peerNextRequestSequence = peer.initialTSN
        handshakeTimer = Timer()
        handshakeChunk = nil
        pendingPeer = nil
        state = .established
        emit(.connected)
    }

    /// T1-init or T1-cookie expired (§5.1 C, §6.3.3): resend with the timeout doubled.
    func handshakeTimerFired(now: Instant) {
        handshakeTimer.retransmissions += 1
        guard handshakeTimer.retransmissions <= configuration.maxInitRetransmits, let chunk = handshakeChunk else {
            return terminate(.timedOut)
        }
        handshakeTimer.deadline = now + backoff(retransmissions: handshakeTimer.retransmissions)
        send(packet: [chunk], verificationTag: state == .cookieWait ? 0 : peerTag)
    }

    func backoff(retransmissions: Int) -> Duration {
        var timeout = configuration.initialRTO
        for _ in 0..<min(retransmissions, 16) { timeout = min(timeout * 2, configuration.maxRTO) }
        return timeout
    }

    // MARK: Shutdown (§9.2)

    private func handleShutdown(cumulativeTSNAck: UInt32, now: Instant, verdict: inout Verdict) {
        guard isEstablished else { return record(.unexpectedChunk, in: &verdict) }
        sender.processShutdownAck(cumulativeTSNAck, now: now, rto: rto)
        switch state {
        case .established, .shutdownPending:
            state = .shutdownReceived
        case .shutdownSent:
            // Both sides shut down at once: answer with SHUTDOWN-ACK (§9.2).
            sendShutdownAck(now: now)
        default:
            break
        }
    }

    /// Sends SHUTDOWN or SHUTDOWN-ACK once everything we sent is acknowledged (§9.2).
    func advanceShutdown(now: Instant) {
        guard sender.isIdle else { return }
        switch state {
        case .shutdownPending:
            state = .shutdownSent
            shutdownTimer = Timer(deadline: now + rto)
            send(packet: [.shutdown(cumulativeTSNAck: receiver.cumulativeTSN)], verificationTag: peerTag)
        case .shutdownReceived:
            sendShutdownAck(now: now)
        default:
            break
        }
    }

    private func sendShutdownAck(now: Instant) {
        state = .shutdownAckSent
        shutdownTimer = Timer(deadline: now + rto)
        send(packet: [.shutdownAck], verificationTag: peerTag)
    }

    /// T2-shutdown expired (§9.2): resend, or give up with ABORT.
    func shutdownTimerFired(now: Instant) {
        shutdownTimer.retransmissions += 1
        guard shutdownTimer.retransmissions <= configuration.maxAssociationRetransmits else {
            send(packet: [.abort(reflectedTag: false, causes: [])], verificationTag: peerTag)
            return terminate(.timedOut)
        }
        shutdownTimer.deadline = now + clampRTO(rto * (1 << min(shutdownTimer.retransmissions, 10)))
        let chunk: SCTPChunk = state == .shutdownSent ? .shutdown(cumulativeTSNAck: receiver.cumulativeTSN) : .shutdownAck
        send(packet: [chunk], verificationTag: peerTag)
    }

    /// The retransmission timer expired (§6.3.3): back off and resend, or give up.
    func retransmissionTimerFired(now: Instant) {
        guard sender.retransmissionTimerFired(maxRetransmissions: configuration.maxAssociationRetransmits) else {
            send(packet: [.abort(reflectedTag: false, causes: [])], verificationTag: peerTag)
            return terminate(.timedOut)
        }
        rto = clampRTO(rto * 2)
    }
}
