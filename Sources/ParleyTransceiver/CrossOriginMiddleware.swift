import Foundation
import Hummingbird

/// Cross-origin access for browser pages on other origins (the Fetch standard's CORS
/// protocol, §3.2). A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered
/// here with 204: the methods the API has, and the request headers the page asked for when
/// they are a short list of valid header names (SDKs add their own, such as
/// `X-OpenAI-Agents-SDK`). Every other response, errors included, carries
/// `Access-Control-Allow-Origin` and exposes `Location`: browsers read
/// `Access-Control-Expose-Headers` from the actual response, not from the preflight, and a
/// page needs `Location` to `DELETE` its call.
///
/// Origins are not restricted here: the API authenticates by bearer key, never by cookie, so
/// no credentials are allowed (`Access-Control-Allow-Credentials` is never sent).
struct CrossOriginMiddleware<Context: RequestContext>: RouterMiddleware {
    /// More requested headers than this, or a longer list, gets only the standard ones.
    static var maxRequestedHeaders: Int { 32 }
    static var maxRequestedHeadersLength: Int { 1_024 }
    static var standardHeaders: [String] { ["accept", "authorization", "content-type", "origin"] }
    static var allowedMethods: String { "GET, POST, DELETE, OPTIONS" }
    static var maxAgeSeconds: String { "600" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            return Response(status: .noContent, headers: [
                .accessControlAllowOrigin: "*",
                .accessControlAllowMethods: Self.allowedMethods,
                .accessControlAllowHeaders: Self.allowedHeaders(requested: request.headers[.accessControlRequestHeaders]),
                .accessControlMaxAge: Self.maxAgeSeconds,
                .vary: "Access-Control-Request-Headers",
            ])
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = "*"
        response.headers[.accessControlExposeHeaders] = "Location"
        return response
    }

    /// The standard headers plus those requested, when the request is a bounded list of
    /// header names (RFC 9110 §5.1 tokens); otherwise the standard headers alone, which the
    /// browser then refuses the page's request for.
    static func allowedHeaders(requested: String?) -> String {
        var names = standardHeaders
        guard let requested, requested.utf8.count <= maxRequestedHeadersLength else { return names.joined(separator: ", ") }
        let asked = requested.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        guard asked.count <= maxRequestedHeaders, asked.allSatisfy(isToken) else { return names.joined(separator: ", ") }
        for name in asked where !names.contains(name) { names.append(name) }
        return names.joined(separator: ", ")
    }

    /// RFC 9110 §5.6.2 `token`: one or more tchar.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
            }
        }
    }
}

/// Every error the router or a handler throws (an unknown path, a wrong method, an
/// unreadable body) answered as the API's JSON error, `{"error":{"code","message"}}`,
/// instead of an empty body.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: TransceiverMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            let status = error.status
            if status == .notFound {
                return SignalingAPI.errorResponse(
                    .notFound, code: "not_found",
                    "no such endpoint: \(request.method) \(request.uri.path) (calls are made with POST /v1/realtime/calls or POST /whip)", metrics: metrics)
            }
            let code = status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
            let message = (error as? HTTPError)?.body ?? status.reasonPhrase
            return SignalingAPI.errorResponse(status, code: code.isEmpty ? "http_\(status.code)" : code, message, metrics: metrics)
        }
    }
}
