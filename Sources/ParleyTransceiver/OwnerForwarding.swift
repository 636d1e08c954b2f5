import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ParleyEndpoint
import ParleyRouting
import ParleyWire
import WSClient
import WSCore

/// Control requests for calls another transceiver of the cluster owns. A call id names its
/// owner's signaling address, signed (`CallOwner`); when a load balancer sends a `DELETE`, a
/// `hangup` or a sideband for such a call here, the request is passed to the owner with the
/// caller's credentials and its answer returned as it is. A forwarded request is marked
/// (`Parley-Forwarded`) and never forwarded again, so a stale or lying id cannot loop.
struct OwnerForwarding: Sendable {
    static let markerField = HTTPField.Name("Parley-Forwarded")!
    /// A forwarded control request that takes longer than this is answered 504.
    static let timeout: TimeInterval = 5

    let ownAddress: PeerAddress?
    let credentials: TransceiverCredentials
    let metrics: TransceiverMetrics
    let logger: Logger

    /// The owner to forward a request about `id` to: one the id names and verifies, not
    /// this transceiver, and the request not itself forwarded.
    func owner(of id: SessionID, headers: HTTPFields) -> PeerAddress? {
        guard headers[Self.markerField] == nil, let owner = id.owner(keyring: credentials.current.routingKeyring), owner != ownAddress else { return nil }
        return owner
    }

    /// Sends `request` (its method, path, query, credentials and body) to `owner` and
    /// answers what it answered.
    func forward(_ request: Request, body: ByteBuffer, to owner: PeerAddress) async -> Response {
        guard let url = URL(string: "http://\(owner)\(request.uri)") else {
            return Response(status: .badGateway)
        }
        var forwarded = URLRequest(url: url, timeoutInterval: Self.timeout)
        forwarded.httpMethod = request.method.rawValue
        forwarded.setValue("1", forHTTPHeaderField: Self.markerField.rawName)
        for name in [HTTPField.Name.authorization, .contentType] {
            if let value = request.headers[name] { forwarded.setValue(value, forHTTPHeaderField: name.rawName) }
        }
        if body.readableBytes > 0 { forwarded.httpBody = Data(body.readableBytesView) }
        do {
            let (data, answer) = try await URLSession.shared.data(for: forwarded)
            guard let http = answer as? HTTPURLResponse else { return Response(status: .badGateway) }
            var headers: HTTPFields = [:]
            if let type = http.value(forHTTPHeaderField: "Content-Type") { headers[.contentType] = type }
            if let challenge = http.value(forHTTPHeaderField: "WWW-Authenticate") { headers[.wwwAuthenticate] = challenge }
            logger.debug("control request forwarded", metadata: ["owner": "\(owner)", "status": "\(http.statusCode)"])
            return Response(status: .init(code: http.statusCode), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            logger.info("control request for another transceiver's call failed", metadata: ["owner": "\(owner)", "error": "\(error)"])
            return SignalingAPI.errorResponse(.badGateway, code: "owner_unreachable",
                                              "the transceiver that owns this call (\(owner)) did not answer", metrics: metrics)
        }
    }

    /// Joins the owner's sideband for a call and passes messages both ways until either
    /// side closes.
    func relaySideband(_ request: HTTPRequest, to owner: PeerAddress, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        var headers: HTTPFields = [Self.markerField: "1"]
        if let authorization = request.headerFields[.authorization] { headers[.authorization] = authorization }
        let url = "ws://\(owner)\(request.path ?? "/v1/realtime")"
        do {
            let closing = try await WebSocketClient.connect(
                url: url, configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers), logger: logger
            ) { ownerInbound, ownerOutbound, _ in
                await withTaskGroup(of: Void.self) { group in
                    // The owner's close (code and reason) is passed on below, once.
                    group.addTask { await Self.pipe(ownerInbound, into: outbound, closing: false) }
                    group.addTask { await Self.pipe(inbound, into: ownerOutbound, closing: true) }
                    await group.next()
                    group.cancelAll()
                }
            }
            try? await outbound.close(closing?.closeCode ?? .normalClosure, reason: closing?.reason)
        } catch {
            try? await outbound.close(.unexpectedServerError, reason: "the call's owner did not answer")
        }
    }

    private static func pipe(_ inbound: WebSocketInboundStream, into outbound: WebSocketOutboundWriter, closing: Bool) async {
        do {
            for try await message in inbound.messages(maxSize: 1 << 20) {
                switch message {
                case .text(let text): try await outbound.writeTextMessage(text)
                case .binary(let buffer): try await outbound.writeBinaryMessage(buffer)
                }
            }
            if closing { try await outbound.close(.normalClosure, reason: nil) }
        } catch {}
    }
}
