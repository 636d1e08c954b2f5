import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import ParleyAgent
import ParleyRouting
import ParleyTransceiver
import ParleyWire
import Testing

/// `POST /v1/realtime/client_secrets` and what a secret may do: OpenAI's request and reply
/// shape, bounds on every field, server keys only for minting, a browser page never holding
/// a server key, and calls made with a secret; expired and forged secrets get 401.
@Suite struct ClientSecretAPITests {
    static let serverKey = "sk-server"
    static let origin = "https://app.example"

    static func makeEngine(keys: Set<String> = [serverKey], allowBrowserKeys: Bool = false) throws -> MediaEngine {
        try MediaEngine(
            configuration: TransceiverConfiguration(
                udpAddress: PeerAddress("127.0.0.1:0")!, advertisedAddresses: [PeerAddress("127.0.0.1:3478")!],
                bearerKeys: keys, allowsBrowserServerKeys: allowBrowserKeys),
            metrics: TransceiverMetrics(), eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: Logger(label: "test"))
    }

    func withAPI(_ engine: MediaEngine, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await SignalingAPITests().withAPI(engine, body)
    }

    static func json(_ buffer: ByteBuffer) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
    }

    /// Mints a secret with `body`, returning the reply's status and JSON.
    static func mint(_ client: some TestClientProtocol, body: String, headers: HTTPFields = [.authorization: "Bearer \(serverKey)"]) async throws -> (HTTPResponse.Status, JSONValue) {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await client.execute(uri: "/v1/realtime/client_secrets", method: .post, headers: headers, body: ByteBuffer(string: body)) {
            ($0.status, try json($0.body))
        }
    }

    @Test func aServerMintsASecretInOpenAIsShape() async throws {
        let engine = try Self.makeEngine()
        try await withAPI(engine) { client in
            let before = Int64(Date().timeIntervalSince1970)
            let (status, reply) = try await Self.mint(client, body: #"""
                {"expires_after": {"anchor": "created_at", "seconds": 120},
                 "session": {"type": "realtime", "instructions": "Be brief.", "x_app": {"tier": 2}}}
                """#)
            let after = Int64(Date().timeIntervalSince1970)
            #expect(status == .ok)
            let value = try #require(reply["value"]?.stringValue)
            #expect(value.hasPrefix("ek_"))
            let expiresAt = try #require(reply["expires_at"]?.numberValue)
            #expect((before + 120...after + 120).contains(Int64(expiresAt)))
            // The reply's session is the whole session the calls will start from, unknown fields kept.
            #expect(reply["session"]?["instructions"] == "Be brief.")
            #expect(reply["session"]?["x_app"]?["tier"] == 2)
            #expect(reply["session"]?["audio"]?["input"]?["turn_detection"]?["type"] == "server_vad")
            // Default lifetime: 600 s.
            let (_, defaulted) = try await Self.mint(client, body: "")
            let defaultExpiry = try #require(defaulted["expires_at"]?.numberValue)
            #expect((before + 600...Int64(Date().timeIntervalSince1970) + 600).contains(Int64(defaultExpiry)))
        }
        #expect(engine.metrics.exposition().contains("parley_client_secrets_issued_total 2"))
    }

    @Test(arguments: [
        (#"{"expires_after": {"seconds": 9}}"#, "expires_after.seconds"),
        (#"{"expires_after": {"seconds": 7201}}"#, "expires_after.seconds"),
        (#"{"expires_after": {"seconds": 60.5}}"#, "expires_after.seconds"),
        (#"{"expires_after": {"anchor": "now", "seconds": 60}}"#, "expires_after.anchor"),
        (#"{"expires_after": 60}"#, "expires_after"),
        (#"{"max_call_seconds": 0}"#, "max_call_seconds"),
        (#"{"session": {"audio": {"input": {"turn_detection": {"threshold": 2}}}}}"#, "session.audio.input.turn_detection.threshold"),
        (#"{"session": "realtime"}"#, "session"),
    ])
    func badFieldsAreNamed(body: String, param: String) async throws {
        let engine = try Self.makeEngine()
        try await withAPI(engine) { client in
            let (status, reply) = try await Self.mint(client, body: body)
            #expect(status == .badRequest)
            #expect(reply["error"]?["param"]?.stringValue == param)
        }
    }

    @Test func malformedAndOversizedRequestsAreRefused() async throws {
        let engine = try Self.makeEngine()
        try await withAPI(engine) { client in
            let (status, reply) = try await Self.mint(client, body: "[1,2]")
            #expect(status == .badRequest)
            #expect(reply["error"]?["code"] == "invalid_json")
            let long = String(repeating: "x", count: ClientSecret.maxSessionBytes)
            let (tooLarge, refusal) = try await Self.mint(client, body: #"{"session": {"instructions": "\#(long)"}}"#)
            #expect(tooLarge == .badRequest)
            #expect(refusal["error"]?["code"] == "session_too_large")
        }
    }

    @Test func onlyServerKeysMintAndNeverFromABrowserPage() async throws {
        let engine = try Self.makeEngine()
        try await withAPI(engine) { client in
            let (_, minted) = try await Self.mint(client, body: "")
            let secret = try #require(minted["value"]?.stringValue)
            let (bySecret, refusal) = try await Self.mint(client, body: "", headers: [.authorization: "Bearer \(secret)"])
            #expect(bySecret == .unauthorized)
            #expect(refusal["error"]?["code"] == "server_key_required")
            let (noKey, _) = try await Self.mint(client, body: "", headers: [:])
            #expect(noKey == .unauthorized)
            // A server key sent by a page (Origin present) is refused, for minting and for calls.
            let (fromPage, pageRefusal) = try await Self.mint(client, body: "", headers: [.authorization: "Bearer \(Self.serverKey)", .origin: Self.origin])
            #expect(fromPage == .unauthorized)
            #expect(pageRefusal["error"]?["code"] == "server_key_from_browser")
            try await client.execute(
                uri: "/v1/realtime/calls", method: .post,
                headers: [.contentType: "application/sdp", .authorization: "Bearer \(Self.serverKey)", .origin: Self.origin],
                body: ByteBuffer(string: try SignalingAPITests.clientOffer())
            ) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.accessControlAllowOrigin] == "*")
            }
        }
        // Unless the operator allows it.
        let permissive = try Self.makeEngine(allowBrowserKeys: true)
        try await withAPI(permissive) { client in
            let (status, _) = try await Self.mint(client, body: "", headers: [.authorization: "Bearer \(Self.serverKey)", .origin: Self.origin])
            #expect(status == .ok)
        }
    }

    @Test func aPageCreatesAndEndsItsCallWithASecret() async throws {
        let engine = try Self.makeEngine()
        let offer = try SignalingAPITests.clientOffer()
        try await withAPI(engine) { client in
            let (_, minted) = try await Self.mint(client, body: #"{"session": {"instructions": "From the secret."}, "max_call_seconds": 60}"#)
            let secret = try #require(minted["value"]?.stringValue)
            let location = try await client.execute(
                uri: "/v1/realtime/calls", method: .post,
                headers: [.contentType: "application/sdp", .authorization: "Bearer \(secret)", .origin: Self.origin],
                body: ByteBuffer(string: offer)
            ) { response in
                #expect(response.status == .created)
                return try #require(response.headers[.location])
            }
            try await client.execute(uri: location, method: .delete, headers: [.authorization: "Bearer \(secret)", .origin: Self.origin]) {
                #expect($0.status == .noContent)
            }
        }
    }

    @Test func aSidebandNeedsAServerKeyAndALiveCall() async throws {
        let engine = try Self.makeEngine()
        let offer = try SignalingAPITests.clientOffer()
        try await withAPI(engine) { client in
            let location = try await client.execute(
                uri: "/v1/realtime/calls", method: .post,
                headers: [.contentType: "application/sdp", .authorization: "Bearer \(Self.serverKey)"], body: ByteBuffer(string: offer)
            ) { try #require($0.headers[.location]) }
            let id = String(location.split(separator: "/").last ?? "")
            let (_, minted) = try await Self.mint(client, body: "")
            let secret = try #require(minted["value"]?.stringValue)
            let cases: [(HTTPFields, HTTPResponse.Status, String)] = [
                ([:], .unauthorized, "unauthorized"),
                ([.authorization: "Bearer \(secret)"], .unauthorized, "server_key_required"),
                ([.authorization: "Bearer \(Self.serverKey)"], .upgradeRequired, "websocket_required"),
            ]
            for (headers, status, code) in cases {
                try await client.execute(uri: "/v1/realtime?call_id=\(id)", method: .get, headers: headers) { response in
                    #expect(response.status == status)
                    let body = try Self.json(response.body)
                    #expect(body["error"]?["code"]?.stringValue == code)
                }
            }
            for (uri, code) in [("/v1/realtime?call_id=rtc_000000000000000000000000", "no_such_call"), ("/v1/realtime?model=gpt-realtime", "call_id_required")] {
                try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(Self.serverKey)"]) { response in
                    #expect(response.status.code / 100 == 4)
                    let body = try Self.json(response.body)
                    #expect(body["error"]?["code"]?.stringValue == code)
                }
            }
        }
    }

    @Test func expiredForgedAndForeignSecretsGet401EvenWhenTheAPIIsOpen() async throws {
        let engine = try Self.makeEngine(keys: [])
        let now = Int64(Date().timeIntervalSince1970)
        let keyring = RoutingKeyring.development()
        let expired = ClientSecret(issuedAt: now - 700, expiresAt: now - 100, session: Array("{}".utf8)).encoded(keyring: keyring)
        let foreign = ClientSecret(issuedAt: now, expiresAt: now + 600, session: Array("{}".utf8))
            .encoded(keyring: try RoutingKeyring(keys: [RoutingKey(id: 0, secret: Array("another-cluster-routing-key-0000".utf8))], signingKeyID: 0))
        let offer = try SignalingAPITests.clientOffer()
        try await withAPI(engine) { client in
            for (secret, reason) in [(expired, "expired"), (foreign, "signature"), ("ek_garbage", "malformed")] {
                try await client.execute(
                    uri: "/v1/realtime/calls", method: .post,
                    headers: [.contentType: "application/sdp", .authorization: "Bearer \(secret)"], body: ByteBuffer(string: offer)
                ) { response in
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.wwwAuthenticate] == #"Bearer error="invalid_token""#)
                    let body = try Self.json(response.body)
                    #expect(body["error"]?["code"] == "invalid_client_secret")
                    #expect(body["error"]?["message"]?.stringValue?.contains(reason) == true)
                }
            }
        }
        #expect(await engine.sessionCount == 0)
    }
}
