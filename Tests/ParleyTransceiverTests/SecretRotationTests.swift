import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import ParleyRouting
import ParleyTransceiver
import ParleyWire
import Testing

/// Rotating API keys and routing keys on a running transceiver, as a Secret update does:
/// the next request sees the new keys, a file that would open the API or does not load is
/// refused with the old keys kept, and each step of a routing-key rotation leaves what was
/// signed under a still-listed key valid.
@Suite struct SecretRotationTests {
    static let oldKey = RoutingKey(id: 0, secret: Array(repeating: 0x10, count: 32))
    static let newKey = RoutingKey(id: 1, secret: Array(repeating: 0x20, count: 32))

    static func makeEngine(apiKeys: Set<String>) throws -> MediaEngine {
        try MediaEngine(
            configuration: TransceiverConfiguration(
                udpAddress: PeerAddress("127.0.0.1:0")!, advertisedAddresses: [PeerAddress("127.0.0.1:3478")!],
                bearerKeys: apiKeys, routingKeyring: try RoutingKeyring(keys: [oldKey], signingKeyID: 0)),
            metrics: TransceiverMetrics(), eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: Logger(label: "test"))
    }

    static func postOffer(_ client: some TestClientProtocol, key: String) async throws -> (HTTPResponse.Status, String) {
        let offer = try SignalingAPITests.clientOffer()
        return try await client.execute(
            uri: "/v1/realtime/calls", method: .post,
            headers: [.contentType: "application/sdp", .authorization: "Bearer \(key)"], body: ByteBuffer(string: offer)
        ) { ($0.status, String(buffer: $0.body)) }
    }

    static func expectStatus(_ client: some TestClientProtocol, key: String, _ expected: HTTPResponse.Status,
                             sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let status = try await postOffer(client, key: key).0
        #expect(status == expected, sourceLocation: sourceLocation)
    }

    static func serverUfrag(of answer: String) throws -> String {
        let line = try #require(answer.split(separator: "\r\n").first { $0.hasPrefix("a=ice-ufrag:") })
        return String(line.dropFirst("a=ice-ufrag:".count))
    }

    @Test func aRotatedAPIKeyFileTakesEffectOnTheNextRequest() async throws {
        let engine = try Self.makeEngine(apiKeys: ["sk-old"])
        try await SignalingAPITests().withAPI(engine) { client in
            try await Self.expectStatus(client, key: "sk-old", .created)
            let rotated = try engine.reloadAPIKeys(text: "# rotated\nsk-new\n")
            #expect(rotated == ["sk-new"])
            try await Self.expectStatus(client, key: "sk-old", .unauthorized)
            try await Self.expectStatus(client, key: "sk-new", .created)

            // An emptied file would leave the API open: refused, the keys in force stay.
            #expect(throws: APIKeyList.Empty.self) { try engine.reloadAPIKeys(text: "# nothing left\n\n") }
            try await Self.expectStatus(client, key: "sk-new", .created)
            try await Self.expectStatus(client, key: "anything", .unauthorized)
        }
        let exposition = engine.metricsExposition()
        #expect(exposition.contains(#"parley_secret_reloads_total{secret="api_keys",result="applied"} 1"#))
        #expect(exposition.contains(#"parley_secret_reloads_total{secret="api_keys",result="rejected"} 1"#))
    }

    @Test func eachStepOfARoutingKeyRotationKeepsWhatAStillListedKeySigned() async throws {
        let engine = try Self.makeEngine(apiKeys: ["sk-server"])
        let old = try RoutingKeyring(keys: [Self.oldKey], signingKeyID: 0)
        let new = try RoutingKeyring(keys: [Self.newKey], signingKeyID: 1)
        let now = Int64(Date().timeIntervalSince1970)
        let oldSecret = ClientSecret(issuedAt: now, expiresAt: now + 600, session: Array("{}".utf8)).encoded(keyring: old)
        try await SignalingAPITests().withAPI(engine) { client in
            var (status, answer) = try await Self.postOffer(client, key: "sk-server")
            var ufrag = try Self.serverUfrag(of: answer)
            #expect(status == .created && RoutingToken.verify(ufrag, keyring: old) != nil)

            // Step one: the new key is added and signs; the old one still verifies.
            _ = try engine.reloadRoutingKeys(text: "0:\(Self.base64(Self.oldKey)),1:\(Self.base64(Self.newKey)),signing=1")
            (status, answer) = try await Self.postOffer(client, key: "sk-server")
            ufrag = try Self.serverUfrag(of: answer)
            #expect(status == .created && RoutingToken.verify(ufrag, keyring: new) != nil)
            try await Self.expectStatus(client, key: oldSecret, .created)

            // A file that does not load changes nothing.
            #expect(throws: (any Error).self) { try engine.reloadRoutingKeys(text: "1:not base64!") }
            try await Self.expectStatus(client, key: oldSecret, .created)

            // Step two: the old key retired; what it signed no longer verifies.
            _ = try engine.reloadRoutingKeys(text: "1:\(Self.base64(Self.newKey))")
            try await Self.expectStatus(client, key: oldSecret, .unauthorized)
            (status, answer) = try await Self.postOffer(client, key: "sk-server")
            ufrag = try Self.serverUfrag(of: answer)
            #expect(status == .created && RoutingToken.verify(ufrag, keyring: new) != nil)
        }
        let exposition = engine.metricsExposition()
        #expect(exposition.contains(#"parley_secret_reloads_total{secret="routing_keys",result="applied"} 2"#))
        #expect(exposition.contains(#"parley_secret_reloads_total{secret="routing_keys",result="rejected"} 1"#))
    }

    static func base64(_ key: RoutingKey) -> String {
        Data(key.secret).base64EncodedString()
    }
}
