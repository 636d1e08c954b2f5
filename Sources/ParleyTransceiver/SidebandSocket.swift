import Foundation
import HTTPTypes
import Logging
import NIOCore
import ParleyAgent
import ParleyEndpoint
import ParleyWire
import WSCore

/// The sideband WebSocket, `GET /v1/realtime?call_id=ID` with a server key: an application
/// server joins a live call the browser holds (the OpenAI Realtime API's sideband). It gets
/// `session.created` with the session as it stands, then every server event the caller gets;
/// the client events it sends (`session.update`, `conversation.item.create`,
/// `response.create`, `response.cancel`, ...) take effect as if the caller had sent them.
/// When the call ends the socket closes normally (1000) with the reason; a sideband that
/// falls `Sideband.bufferLimit` events behind is closed with 1013 (try again later). A
/// refused sideband (no call, no server key) gets an `error` event naming the problem, then
/// a close with 1008 and the same words: a refused upgrade could only be an empty 400.
struct SidebandSocket: Sendable {
    /// What a sideband request asks for, decided before any upgrade.
    enum Target: Equatable {
        case join(SessionID)
        /// Another transceiver owns the call: relay to its sideband.
        case forward(PeerAddress)
        case refused(status: HTTPResponse.Status, code: String, message: String)
    }

    let engine: MediaEngine
    let authorization: CallerAuthorization
    let forwarding: OwnerForwarding
    let logger: Logger

    /// Decides a `GET /v1/realtime...` request: a sideband for a live call with a server key,
    /// or why not. The same answer serves the upgrade and the plain HTTP reply.
    func target(of request: HTTPRequest, now: Int64) -> Target {
        let components = URLComponents(string: request.path ?? "")
        guard let callID = components?.queryItems?.first(where: { $0.name == "call_id" })?.value else {
            return .refused(status: .badRequest, code: "call_id_required",
                            message: "a Realtime WebSocket on Parley joins a live call: give ?call_id= (sessions without WebRTC media are not supported)")
        }
        if case .failure(let refusal) = authorization.check(request.headerFields, requirement: .server, now: now) {
            return .refused(status: .unauthorized, code: refusal.code, message: refusal.message)
        }
        guard let id = SessionID(rawValue: callID) else {
            return .refused(status: .notFound, code: "no_such_call", message: "no live call has the id '\(callID)'")
        }
        if engine.hasLiveCall(id) { return .join(id) }
        if let owner = forwarding.owner(of: id, headers: request.headerFields) { return .forward(owner) }
        return .refused(status: .notFound, code: "no_such_call", message: "no live call has the id '\(callID)'")
    }

    /// Serves one upgraded sideband until the call ends or either side closes.
    func serve(_ id: SessionID, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        guard let sideband = await engine.attachSideband(id) else {
            try? await outbound.close(.goingAway, reason: "call \(id) ended")
            return
        }
        logger.info("sideband joined", metadata: ["session": "\(id)"])
        defer {
            sideband.detach()
            logger.info("sideband left", metadata: ["session": "\(id)"])
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await forwardEvents(of: sideband, to: outbound) }
            group.addTask { await takeClientEvents(from: inbound, into: sideband, replyingOn: outbound) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Tells a sideband that was not allowed why, and closes it.
    func refuse(code: String, message: String, outbound: WebSocketOutboundWriter) async {
        logger.info("sideband refused", metadata: ["code": "\(code)", "reason": "\(message)"])
        var event = RealtimeEvent.error(code: code, message: message)
        event["event_id"] = .string("event_refused_\(code)")
        try? await outbound.writeTextMessage(String(decoding: event.encodedJSON(), as: UTF8.self))
        // A close reason is at most 123 bytes (RFC 6455 §5.5).
        try? await outbound.close(.policyViolation, reason: String(code.prefix(123)))
    }

    private func forwardEvents(of sideband: Sideband, to outbound: WebSocketOutboundWriter) async {
        for await message in sideband.messages {
            switch message {
            case .event(let event):
                do {
                    try await outbound.writeTextMessage(String(decoding: event.encodedJSON(), as: UTF8.self))
                } catch {
                    return
                }
            case .ended(let reason):
                try? await outbound.close(.normalClosure, reason: "call ended: \(reason)")
                return
            }
        }
        guard !Task.isCancelled else { return }
        try? await outbound.close(.unknown(1013), reason: "the sideband fell behind the call's events; join again")
    }

    private func takeClientEvents(from inbound: WebSocketInboundStream, into sideband: Sideband,
                                  replyingOn outbound: WebSocketOutboundWriter) async {
        do {
            for try await message in inbound.messages(maxSize: RealtimeEvent.maxEncodedSize) {
                let bytes: [UInt8]
                switch message {
                case .text(let text): bytes = Array(text.utf8)
                case .binary(let buffer): bytes = Array(buffer.readableBytesView)
                }
                let event: RealtimeEvent
                do {
                    event = try RealtimeEvent(json: bytes)
                } catch {
                    engine.metrics.drop("sideband_event_malformed")
                    var reply = RealtimeEvent.error(code: "invalid_event", message: error.description)
                    reply["event_id"] = .string("event_sideband_invalid_\(UInt32.random(in: 0...UInt32.max))")
                    try await outbound.writeTextMessage(String(decoding: reply.encodedJSON(), as: UTF8.self))
                    continue
                }
                guard await sideband.send(event) else { return }
            }
        } catch {
            logger.debug("sideband read ended", metadata: ["error": "\(error)"])
        }
    }
}
