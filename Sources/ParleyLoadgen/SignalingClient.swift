import NIOCore
import ParleyNIO
import NIOHTTP1
import NIOPosix

/// `http://HOST[:PORT]/path`: the signaling endpoint the load generator posts offers to.
public struct SignalingURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var path: String

    /// Parses a plain-HTTP URL (RFC 9110 §4.2.1); nil for any other scheme or a bad authority.
    public init?(_ text: String) {
        let scheme = "http://"
        guard text.lowercased().hasPrefix(scheme) else { return nil }
        let rest = text.dropFirst(scheme.count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        let hostPart: Substring
        let portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { return nil }
            portPart = after.isEmpty ? nil : after.dropFirst()
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        } else {
            hostPart = authority
            portPart = nil
        }
        guard !hostPart.isEmpty else { return nil }
        if let portPart {
            guard let port = Int(portPart), (1...65_535).contains(port) else { return nil }
            self.port = port
        } else {
            port = 80
        }
        host = String(hostPart)
        path = slash == rest.endIndex ? "/" : String(rest[slash...])
    }

    /// The `Host` header value (RFC 9110 §7.2).
    var hostHeader: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? bracketed : "\(bracketed):\(port)"
    }

    public var description: String { "http://\(hostHeader)\(path)" }
}

/// Why a signaling request failed, in words a load report can print.
public enum SignalingError: Error, Sendable, CustomStringConvertible {
    case connect(String)
    case timeout
    case connectionClosedEarly
    case unexpectedStatus(code: Int, body: String)
    case missingLocation

    public var description: String {
        switch self {
        case .connect(let reason): "signaling connect failed: \(reason)"
        case .timeout: "signaling timed out"
        case .connectionClosedEarly: "signaling connection closed before the response ended"
        case .unexpectedStatus(let code, let body): "signaling answered \(code): \(body.prefix(120))"
        case .missingLocation: "signaling answered 201 without a Location header"
        }
    }
}

/// A minimal HTTP/1.1 client for the signaling API (RFC 9112): one connection per request,
/// `Connection: close`, the whole response collected in memory. Enough for POSTing SDP
/// offers and DELETEing calls; nothing else.
public struct SignalingClient: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: String
    }

    public let url: SignalingURL
    public let bearerKey: String?
    public let timeout: TimeAmount
    private let group: any EventLoopGroup

    public init(url: SignalingURL, bearerKey: String?, timeout: TimeAmount = .seconds(10), group: any EventLoopGroup) {
        self.url = url
        self.bearerKey = bearerKey
        self.timeout = timeout
        self.group = group
    }

    /// POSTs an SDP offer (RFC 8829 §5.2) and returns the answer and the call's `Location`.
    public func postOffer(_ sdp: String) async throws(SignalingError) -> (answer: String, location: String) {
        let response = try await send(method: .POST, path: url.path, body: sdp, contentType: "application/sdp")
        guard response.status == 201 else { throw .unexpectedStatus(code: response.status, body: response.body) }
        guard let location = response.headers.first(name: "location") else { throw .missingLocation }
        return (response.body, location)
    }

    /// DELETEs a call by the `Location` its POST returned (absolute path or absolute URL).
    public func deleteCall(at location: String) async throws(SignalingError) -> Int {
        let path: String
        if let absolute = SignalingURL(location) {
            path = absolute.path
        } else {
            path = location
        }
        return try await send(method: .DELETE, path: path, body: nil, contentType: nil).status
    }

    private func send(method: HTTPMethod, path: String, body: String?, contentType: String?) async throws(SignalingError) -> Response {
        let loop = group.next()
        let promise = loop.makePromise(of: Response.self)
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: url.hostHeader)
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "Content-Length", value: String(body?.utf8.count ?? 0))
        if let contentType { head.headers.add(name: "Content-Type", value: contentType) }
        if let bearerKey { head.headers.add(name: "Authorization", value: "Bearer \(bearerKey)") }
        let requestHead = head
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: url.host, port: url.port).get()
        } catch {
            throw .connect("\(error)")
        }
        let deadline = loop.scheduleTask(in: timeout) {
            promise.fail(SignalingError.timeout)
            channel.close(promise: nil)
        }
        channel.write(HTTPClientRequestPart.head(requestHead), promise: nil)
        if let body {
            var buffer = channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        do {
            let response = try await promise.futureResult.get()
            deadline.cancel()
            channel.close(promise: nil)
            return response
        } catch {
            deadline.cancel()
            channel.close(promise: nil)
            throw (error as? SignalingError) ?? .connect("\(error)")
        }
    }
}

/// Collects one HTTP response into a `SignalingClient.Response`.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<SignalingClient.Response>
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?
    private var done = false

    init(promise: EventLoopPromise<SignalingClient.Response>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(var part):
            if body == nil {
                body = part
            } else {
                body?.writeBuffer(&part)
            }
        case .end:
            guard !done, let head else { return }
            done = true
            let text = body.map { String(buffer: $0) } ?? ""
            promise.succeed(.init(status: Int(head.status.code), headers: head.headers, body: text))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(SignalingError.connectionClosedEarly)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            promise.fail(SignalingError.connect("\(error)"))
        }
        context.close(promise: nil)
    }
}
