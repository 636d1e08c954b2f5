import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import ParleyAgent
import ParleyEndpoint
import ParleyRouting
import ParleyWire
import Synchronization

/// The HTTP signaling API: `POST /v1/realtime/calls` (the OpenAI Realtime WebRTC shape, and
/// its older form `POST /v1/realtime?model=...`) and `POST /whip` (RFC 9725) take an SDP offer
/// and answer `201 Created` with the SDP answer and a `Location`; the call ends with `DELETE`
/// on that location or `POST /v1/realtime/calls/{id}/hangup` (the OpenAI SDKs' way).
/// `POST /v1/realtime/client_secrets` mints ephemeral client secrets for browsers, and
/// `GET /v1/realtime?call_id=` joins a live call as a sideband WebSocket (`SidebandSocket`);
/// plus health, readiness, metrics and the demo page. Every refusal is a JSON error, readable
/// cross-origin, and logged with its reason.
public struct SignalingAPI: Sendable {
    /// The caller's region, as the ingress in front of signaling names it: the answer then
    /// carries that region's relays (`TransceiverConfiguration.regionIngress`).
    static let clientRegionField = HTTPField.Name("Parley-Client-Region")!
    /// The OpenAI Realtime call-control methods that exist for SIP calls only.
    static let sipOnlyActions = ["accept", "reject", "refer"]

    let engine: MediaEngine
    let demoPage: ByteBuffer
    let logger: Logger
    let authorization: CallerAuthorization
    let forwarding: OwnerForwarding
    let sideband: SidebandSocket
    let limits: SignalingLimits
    /// Offers being read or answered now (`SignalingLimits.maxPendingOffers`).
    let pendingOffers: PendingOffers

    public init(engine: MediaEngine, logger: Logger = Logger(label: "parley.signaling")) {
        self.engine = engine
        self.logger = logger
        limits = engine.configuration.signalingLimits
        pendingOffers = PendingOffers(limit: limits.maxPendingOffers)
        demoPage = ByteBuffer(bytes: Self.loadDemoPage())
        authorization = CallerAuthorization(
            credentials: engine.credentials,
            allowsBrowserServerKeys: engine.configuration.allowsBrowserServerKeys)
        forwarding = OwnerForwarding(
            ownAddress: engine.configuration.controlAddress, credentials: engine.credentials,
            metrics: engine.metrics, logger: logger)
        sideband = SidebandSocket(engine: engine, authorization: authorization, forwarding: forwarding, logger: logger)
    }

    /// HTTP/1.1 with the sideband's WebSocket upgrade (RFC 6455 §4.2); every other request,
    /// and a sideband request that is refused, goes to `makeRouter()`'s routes. Connections
    /// pass `HTTPConnectionGuard` first (the connection cap and the first head's deadline);
    /// a keep-alive connection idle for `SignalingLimits.idleTimeout` is closed.
    public func makeServer() -> HTTPServerBuilder {
        let sideband = sideband
        let forwarding = forwarding
        let engine = engine
        let connectionGuard = HTTPConnectionGuard(
            limits: .init(maxConnections: limits.maxConnections, headerTimeout: limits.readTimeout),
            metrics: engine.metrics, logger: logger)
        let idleTimeout = TimeAmount.nanoseconds(limits.idleTimeout.nanosecondsRounded)
        return connectionGuard.serverBuilder(configuration: .init(http1: .init(idleTimeout: idleTimeout))) { request, _, _ in
            guard request.method == .get, request.path?.split(separator: "?").first == "/v1/realtime" else { return .dontUpgrade }
            switch sideband.target(of: request, now: Self.unixNow()) {
            case .join(let id):
                return .upgrade([:]) { inbound, outbound, _ in
                    await sideband.serve(id, inbound: inbound, outbound: outbound)
                }
            case .forward(let owner):
                return .upgrade([:]) { inbound, outbound, _ in
                    await forwarding.relaySideband(request, to: owner, inbound: inbound, outbound: outbound)
                }
            case .refused(_, let code, let message):
                // The WebSocket library answers a refused upgrade with an empty 400; a client
                // learns more from an error event and a close that says why.
                engine.metrics.signalingRejected(code)
                return .upgrade([:]) { _, outbound, _ in
                    await sideband.refuse(code: code, message: message, outbound: outbound)
                }
            }
        }
    }

    /// Seconds since 1970, the clock client secrets expire by.
    static func unixNow() -> Int64 {
        Int64(Date().timeIntervalSince1970)
    }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: CrossOriginMiddleware())
        router.add(middleware: JSONErrorMiddleware(metrics: engine.metrics))
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: demoPage))
        }
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ in
            guard await engine.isAcceptingCalls else {
                return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "draining\n")))
            }
            guard !engine.isOverloaded else {
                return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "overloaded\n")))
            }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: engine.metricsExposition())))
        }
        let realtime = router.group("/v1/realtime").add(middleware: AuthorizationMiddleware(authorization: authorization, metrics: engine.metrics))
        // The first form of the Realtime WebRTC API: the offer posted to /v1/realtime?model=...
        realtime.post { request, _ in try await createCall(request, locationPrefix: "/v1/realtime/calls/") }
        // A sideband that was not upgraded: say why.
        realtime.get { request, _ in sidebandRefusal(request) }
        realtime.post("client_secrets") { request, _ in try await createClientSecret(request) }
        realtime.post("calls") { request, _ in try await createCall(request, locationPrefix: "/v1/realtime/calls/") }
        realtime.delete("calls/:id") { request, context in try await endCall(request, context) }
        realtime.post("calls/:id/:action") { request, context in try await callAction(request, context) }
        let whip = router.group("/whip").add(middleware: AuthorizationMiddleware(authorization: authorization, metrics: engine.metrics))
        whip.post { request, _ in try await createCall(request, locationPrefix: "/whip/") }
        whip.delete(":id") { request, context in try await endCall(request, context) }
        return router
    }

    private func createCall(_ request: Request, locationPrefix: String) async throws -> Response {
        guard pendingOffers.enter() else {
            return rejection(.serviceUnavailable, code: "too_many_pending_offers",
                             "this transceiver is already reading or answering \(limits.maxPendingOffers) offers; retry shortly",
                             retryAfter: 1)
        }
        defer { pendingOffers.leave() }
        let started = Instant.now
        let contentType = request.headers[.contentType] ?? ""
        let mediaType = contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/sdp" || mediaType == "multipart/form-data" else {
            return rejection(.unsupportedMediaType, code: "unsupported_media_type",
                             "the body must be an SDP offer (Content-Type: application/sdp) or multipart/form-data with an 'sdp' part")
        }
        let body: ByteBuffer
        switch await readBody(of: request) {
        case .success(let read): body = read
        case .failure(.tooLarge): return tooLarge(code: "offer_too_large")
        case .failure(.timedOut): return bodyTimedOut()
        }
        var offer = String(buffer: body)
        // A client secret's session first, then the form's own settings over it.
        var settings: [String: JSONValue] = [:]
        var maxDuration: Duration?
        var caller: [String: JSONValue] = ["auth": "open"]
        switch authorization.check(request.headers, requirement: .caller, now: Self.unixNow()) {
        case .success(.clientSecret(let secret)):
            if case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(secret.session)) { settings = fields }
            maxDuration = secret.maxCallSeconds.map { .seconds(Int64($0)) }
            caller = ["auth": "client_secret", "client_secret": [
                "issued_at": .number(Double(secret.issuedAt)), "expires_at": .number(Double(secret.expiresAt)),
                "max_call_seconds": secret.maxCallSeconds.map { .number(Double($0)) } ?? .null,
            ]]
        case .success(.serverKey):
            caller = ["auth": "server_key"]
        case .success(.open), .failure:
            break
        }
        if mediaType == "multipart/form-data" {
            // The Realtime API's form: the offer in `sdp`, optional session settings in `session`.
            let form: MultipartFormData
            do {
                guard let boundary = MultipartFormData.boundary(inContentType: contentType) else {
                    throw MultipartFormData.ParseError.missingBoundary
                }
                form = try MultipartFormData(body: Array(body.readableBytesView), boundary: boundary)
            } catch {
                return rejection(.badRequest, code: "invalid_form", "\(error)")
            }
            guard let sdp = form.part(named: "sdp") else {
                return rejection(.badRequest, code: "missing_sdp", "the form has no 'sdp' part")
            }
            offer = String(decoding: sdp.body, as: UTF8.self)
            if let part = form.part(named: "session") {
                guard let decoded = try? JSONDecoder().decode(JSONValue.self, from: Data(part.body)), case .object(let fields) = decoded else {
                    return rejection(.badRequest, code: "invalid_session", "the 'session' part must be a JSON object")
                }
                // Checked as a caller's session.update would be, so a bad field is refused here.
                var check = RealtimeSession(id: "sess_check")
                do {
                    try check.apply(decoded)
                } catch {
                    return rejection(.badRequest, code: "invalid_session", error.message)
                }
                settings = RealtimeSession.merge(fields, into: settings)
            }
        }
        let session = settings.isEmpty ? nil : RealtimeEvent(type: "session.update", fields: ["session": .object(settings)])
        let answer: CallAnswer
        do {
            answer = try await engine.createCall(offerSDP: offer, session: session, maxDuration: maxDuration, caller: caller,
                                                 clientRegion: request.headers[Self.clientRegionField])
        } catch let error as CallSetupError {
            return rejection(for: error)
        }
        engine.metrics.signalingDuration.record(Instant.now - started)
        return Response(
            status: .created,
            headers: [.contentType: "application/sdp", .location: locationPrefix + answer.id.rawValue],
            body: .init(byteBuffer: ByteBuffer(string: answer.sdp)))
    }

    /// `POST /v1/realtime/client_secrets` (server key): a signed, self-contained `ek_` secret
    /// with the session calls made with it start from, answered in OpenAI's shape
    /// `{value, expires_at, session}`.
    private func createClientSecret(_ request: Request) async throws -> Response {
        let now = Self.unixNow()
        if case .failure(let refusal) = authorization.check(request.headers, requirement: .server, now: now) {
            return unauthorized(refusal)
        }
        let body: ByteBuffer
        switch await readBody(of: request) {
        case .success(let read): body = read
        case .failure(.tooLarge): return tooLarge(code: "request_too_large")
        case .failure(.timedOut): return bodyTimedOut()
        }
        let asked: ClientSecretRequest
        do {
            asked = try ClientSecretRequest(body: Array(body.readableBytesView))
        } catch {
            return rejection(.badRequest, code: error.code, error.message, param: error.param)
        }
        guard let secret = asked.secret(now: now) else {
            return rejection(.badRequest, code: "session_too_large",
                             "a client secret carries at most \(ClientSecret.maxSessionBytes) bytes of session settings; send longer instructions in the call's session part or a session.update",
                             param: "session")
        }
        engine.metrics.clientSecretsIssued.increment()
        var generator = SystemRandomNumberGenerator()
        var session = RealtimeSession(id: "sess_" + SessionID.random(using: &generator).rawValue.dropFirst("rtc_".count))
        session.adopt(.object(asked.session))
        let reply: JSONValue = [
            "value": .string(secret.encoded(keyring: engine.credentials.current.routingKeyring)),
            "expires_at": .number(Double(secret.expiresAt)),
            "session": session.value,
        ]
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: Self.encode(reply))))
    }

    /// `GET /v1/realtime` that did not become a sideband WebSocket: why not.
    private func sidebandRefusal(_ request: Request) -> Response {
        switch sideband.target(of: request.head, now: Self.unixNow()) {
        case .refused(let status, let code, let message) where status == .unauthorized:
            return unauthorized(CallerAuthorization.Refusal(code: code, message: message))
        case .refused(let status, let code, let message):
            return rejection(status, code: code, message)
        case .join, .forward:
            return rejection(.upgradeRequired, code: "websocket_required",
                             "the sideband is a WebSocket: send GET with Upgrade: websocket (RFC 6455)")
        }
    }

    /// Ends the call `context` names: `ended` when it did or had lately (both are idempotent).
    /// A call another transceiver owns (its id says which) is ended there.
    private func endCall(_ request: Request, _ context: BasicRequestContext, ended: HTTPResponse.Status = .noContent) async throws -> Response {
        guard let text = context.parameters.get("id"), let id = SessionID(rawValue: text) else {
            return rejection(.notFound, code: "no_such_call", "no call has that id")
        }
        guard await engine.endCall(id) else {
            if let owner = forwarding.owner(of: id, headers: request.headers) {
                var request = request
                let body = (try? await request.collectBody(upTo: limits.maxBodyBytes)) ?? ByteBuffer()
                return await forwarding.forward(request, body: body, to: owner)
            }
            return rejection(.notFound, code: "no_such_call", "call \(id) does not exist or already ended")
        }
        return Response(status: ended)
    }

    /// `POST /v1/realtime/calls/{id}/hangup` ends the call as `DELETE` does, answering 200 as
    /// OpenAI's API does; the SIP call controls (`accept`, `reject`, `refer`) have no meaning
    /// for a WebRTC call.
    private func callAction(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let action = context.parameters.get("action") ?? ""
        if action == "hangup" { return try await endCall(request, context, ended: .ok) }
        if Self.sipOnlyActions.contains(action) {
            return rejection(.badRequest, code: "sip_only",
                             "'\(action)' controls incoming SIP calls; Parley's calls are WebRTC calls (end one with hangup or DELETE)")
        }
        return rejection(.notFound, code: "not_found", "no call action '\(action)'; the one Parley has is hangup")
    }

    enum BodyReadFailure: Error {
        /// Larger than `SignalingLimits.maxBodyBytes`, by its Content-Length or as it arrived.
        case tooLarge
        /// Not all there within `SignalingLimits.readTimeout`.
        case timedOut
    }

    /// The request's body, refused at once when its Content-Length says it is too large (so a
    /// 10 MB upload is never read) and cut off when it takes longer than the read timeout.
    private func readBody(of request: Request) async -> Result<ByteBuffer, BodyReadFailure> {
        let limit = limits.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            return .failure(.tooLarge)
        }
        let timeout = limits.readTimeout
        return await withTaskGroup(of: Result<ByteBuffer, BodyReadFailure>?.self) { group in
            group.addTask {
                var request = request
                do {
                    return .success(try await request.collectBody(upTo: limit))
                } catch {
                    return .failure(.tooLarge)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(.timedOut)
            }
            defer { group.cancelAll() }
            while let result = await group.next() {
                if let result { return result }
            }
            return .failure(.timedOut)
        }
    }

    private func tooLarge(code: String) -> Response {
        var response = rejection(.contentTooLarge, code: code, "the request body is larger than this transceiver's limit of \(limits.maxBodyBytes) bytes")
        // The rest of an oversized body is not read: the connection closes after the answer.
        response.headers[.connection] = "close"
        return response
    }

    private func bodyTimedOut() -> Response {
        var response = rejection(.requestTimeout, code: "request_timeout", "the request body did not arrive within \(limits.readTimeout)")
        response.headers[.connection] = "close"
        return response
    }

    private func rejection(for error: CallSetupError) -> Response {
        switch error {
        case .offer(let sdpError):
            switch sdpError {
            case .noAudio:
                return rejection(.unprocessableContent, code: "no_audio", "the offer has no audio m-line; Parley needs one")
            case .noCommonCodec:
                return rejection(.unprocessableContent, code: "no_common_codec", "the offer's audio does not include opus/48000/2 (or opus/48000)")
            default:
                return rejection(.badRequest, code: "invalid_offer", "the SDP offer is not usable: \(sdpError)")
            }
        case .unsupportedFingerprint(let algorithm):
            return rejection(.unprocessableContent, code: "unsupported_fingerprint",
                             "fingerprint algorithm '\(algorithm)' is not supported; use sha-256")
        case .capacity(let limit):
            return rejection(.serviceUnavailable, code: "at_capacity",
                             "this transceiver is at its limit of \(limit) calls; retry shortly", retryAfter: 5)
        case .overloaded:
            return rejection(.serviceUnavailable, code: "overloaded",
                             "this transceiver cannot take another call without degrading the ones it carries; retry shortly",
                             retryAfter: 2)
        case .draining:
            return rejection(.serviceUnavailable, code: "draining",
                             "this transceiver is shutting down; retry to reach another", retryAfter: 1)
        case .internalFailure(let reason):
            return rejection(.internalServerError, code: "internal_error", "the call could not be set up: \(reason)")
        }
    }

    /// A refusal, logged with its reason (a client whose offer was refused finds why here
    /// too), counted, and answered as a JSON error.
    private func rejection(_ status: HTTPResponse.Status, code: String, _ message: String, param: String? = nil, retryAfter: Int? = nil) -> Response {
        logger.info("signaling request refused", metadata: [
            "status": "\(status.code)", "code": "\(code)", "reason": "\(message)",
        ])
        return Self.errorResponse(status, code: code, message, param: param, retryAfter: retryAfter, metrics: engine.metrics)
    }

    private func unauthorized(_ refusal: CallerAuthorization.Refusal) -> Response {
        logger.info("signaling request refused", metadata: ["status": "401", "code": "\(refusal.code)", "reason": "\(refusal.message)"])
        return Self.unauthorizedResponse(refusal, metrics: engine.metrics)
    }

    /// 401 with the RFC 6750 §3 challenge and a JSON error saying what was wrong.
    static func unauthorizedResponse(_ refusal: CallerAuthorization.Refusal, metrics: TransceiverMetrics) -> Response {
        var response = errorResponse(.unauthorized, code: refusal.code, refusal.message, metrics: metrics)
        response.headers[.wwwAuthenticate] = refusal.code == "invalid_client_secret" ? #"Bearer error="invalid_token""# : "Bearer"
        return response
    }

    /// A JSON error body naming the problem: `{"error":{"code":"...","message":"...","param":"..."}}`.
    static func errorResponse(_ status: HTTPResponse.Status, code: String, _ message: String, param: String? = nil,
                              retryAfter: Int? = nil, metrics: TransceiverMetrics) -> Response {
        metrics.signalingRejected(code)
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        var error: [String: JSONValue] = ["code": .string(code), "message": .string(message)]
        if let param { error["param"] = .string(param) }
        var body = encode(["error": .object(error)])
        body.append(0x0A)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// JSON with sorted keys and unescaped slashes (paths in messages stay readable).
    static func encode(_ value: JSONValue) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(value))) ?? Array(#"{"error":{}}"#.utf8)
    }

    private static func loadDemoPage() -> [UInt8] {
        guard let url = Bundle.module.url(forResource: "index", withExtension: "html"),
              let data = try? Data(contentsOf: url) else {
            return Array("<!doctype html><p>The Parley demo page is missing from this build.</p>".utf8)
        }
        return Array(data)
    }
}

/// A count of offers in progress with a ceiling, shared by every request task.
final class PendingOffers: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a place; false (and no place taken) at the limit.
    func enter() -> Bool {
        if count.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        count.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    func leave() {
        count.wrappingSubtract(1, ordering: .relaxed)
    }
}

/// The credential check of the call endpoints (`CallerAuthorization`, a server key or a
/// client secret); preflights pass, since browsers send them without credentials.
struct AuthorizationMiddleware<Context: RequestContext>: RouterMiddleware {
    let authorization: CallerAuthorization
    let metrics: TransceiverMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method != .options else { return try await next(request, context) }
        if case .failure(let refusal) = authorization.check(request.headers, requirement: .caller, now: SignalingAPI.unixNow()) {
            return SignalingAPI.unauthorizedResponse(refusal, metrics: metrics)
        }
        return try await next(request, context)
    }
}
