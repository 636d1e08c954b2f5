import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import ParleyTransceiver
import Testing

/// What clients of the OpenAI Realtime API and browser pages on other origins need of the
/// signaling API: CORS on every response, the SDKs' hang-up and the older offer path, JSON
/// errors for anything unknown, and offers as liberal as other WebRTC stacks take them.
@Suite struct SignalingCompatibilityTests {
    static let origin = "https://app.example"

    func withAPI(_ engine: MediaEngine, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await SignalingAPITests().withAPI(engine, body)
    }

    @Test func preflightAllowsTheHeadersAnSDKAsksForWithinBounds() async throws {
        let engine = try SignalingAPITests.makeEngine()
        try await withAPI(engine) { client in
            try await client.execute(
                uri: "/v1/realtime/calls", method: .options,
                headers: [.origin: Self.origin, .accessControlRequestMethod: "POST",
                          .accessControlRequestHeaders: "Authorization, Content-Type, X-OpenAI-Agents-SDK"]
            ) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.accessControlAllowOrigin] == "*")
                let allowed = Set((response.headers[.accessControlAllowHeaders] ?? "").split(separator: ",").map {
                    $0.trimmingCharacters(in: .whitespaces)
                })
                #expect(allowed.isSuperset(of: ["authorization", "content-type", "x-openai-agents-sdk"]))
                #expect(response.headers[.accessControlAllowMethods]?.contains("DELETE") == true)
            }
            // A list that is not header names, or too long, gets the standard headers only.
            for requested in ["x-ok, bad header", (0..<40).map { "x-h\($0)" }.joined(separator: ",")] {
                try await client.execute(
                    uri: "/v1/realtime/calls", method: .options,
                    headers: [.origin: Self.origin, .accessControlRequestMethod: "POST", .accessControlRequestHeaders: requested]
                ) { response in
                    #expect(response.headers[.accessControlAllowHeaders] == "accept, authorization, content-type, origin")
                }
            }
        }
    }

    @Test func aPageOnAnotherOriginReadsLocationAndItsErrors() async throws {
        let engine = try SignalingAPITests.makeEngine()
        let offer = try SignalingAPITests.clientOffer()
        try await withAPI(engine) { client in
            let location = try await client.execute(
                uri: "/v1/realtime/calls", method: .post,
                headers: [.origin: Self.origin, .contentType: "application/sdp"], body: ByteBuffer(string: offer)
            ) { response in
                #expect(response.status == .created)
                #expect(response.headers[.accessControlAllowOrigin] == "*")
                #expect(response.headers[.accessControlExposeHeaders] == "Location")
                return try #require(response.headers[.location])
            }
            try await client.execute(uri: location, method: .delete, headers: [.origin: Self.origin]) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.accessControlAllowOrigin] == "*")
            }
            try await client.execute(
                uri: "/v1/realtime/calls", method: .post,
                headers: [.origin: Self.origin, .contentType: "application/sdp"], body: ByteBuffer(string: "not sdp")
            ) { response in
                #expect(response.status == .badRequest)
                #expect(response.headers[.accessControlAllowOrigin] == "*")
            }
        }
    }

    @Test func unknownPathsAndMethodsGetAJSONError() async throws {
        let engine = try SignalingAPITests.makeEngine()
        try await withAPI(engine) { client in
            for (uri, method) in [("/v1/nothing-here", HTTPRequest.Method.get), ("/v1/realtime/calls", .put)] {
                try await client.execute(uri: uri, method: method, headers: [.origin: Self.origin]) { response in
                    #expect(response.status == .notFound || response.status == .methodNotAllowed)
                    #expect(response.headers[.contentType] == "application/json")
                    #expect(response.headers[.accessControlAllowOrigin] == "*")
                    let body = String(buffer: response.body)
                    #expect(body.contains(#""code":"#) && body.contains(uri), "\(body)")
                }
            }
        }
    }

    @Test func theSDKsHangUpEndsTheCallAndSIPControlsSaySo() async throws {
        let engine = try SignalingAPITests.makeEngine()
        let offer = try SignalingAPITests.clientOffer()
        try await withAPI(engine) { client in
            let location = try await client.execute(
                uri: "/v1/realtime/calls", method: .post, headers: [.contentType: "application/sdp"], body: ByteBuffer(string: offer)
            ) { try #require($0.headers[.location]) }
            for action in ["accept", "reject", "refer"] {
                try await client.execute(uri: "\(location)/\(action)", method: .post) { response in
                    #expect(response.status == .badRequest)
                    #expect(String(buffer: response.body).contains(#""code":"sip_only""#))
                }
            }
            try await client.execute(uri: "\(location)/transfer", method: .post) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/json")
            }
            #expect(await engine.sessionCount == 1)
            // Hang-up answers 200 as OpenAI's API does, and again for a call that just ended.
            for _ in 0..<2 {
                try await client.execute(uri: "\(location)/hangup", method: .post) { response in
                    #expect(response.status == .ok)
                }
            }
            #expect(await engine.sessionCount == 0)
            try await client.execute(uri: "/v1/realtime/calls/rtc_000000000000000000000000/hangup", method: .post) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("no_such_call"))
            }
        }
    }

    @Test func theOlderOfferPathAndOpusWithoutAChannelCountAreAnswered() async throws {
        let engine = try SignalingAPITests.makeEngine()
        let offer = try SignalingAPITests.clientOffer().replacingOccurrences(of: "opus/48000/2", with: "OPUS/48000")
        #expect(!offer.contains("opus/48000/2"))
        try await withAPI(engine) { client in
            try await client.execute(
                uri: "/v1/realtime?model=gpt-realtime", method: .post, headers: [.contentType: "application/sdp"],
                body: ByteBuffer(string: offer)
            ) { response in
                #expect(response.status == .created)
                #expect(response.headers[.location]?.hasPrefix("/v1/realtime/calls/rtc_") == true)
                // The answer names the codec as RFC 7587 §7 writes it.
                #expect(String(buffer: response.body).contains("opus/48000/2"))
            }
        }
        #expect(await engine.sessionCount == 1)
    }
}
