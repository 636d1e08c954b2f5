import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import ParleyEndpoint
import ParleyTransceiver
import ParleyWebRTC
import ParleyWire
import Testing

/// Pins the signaling API's contract: status codes, headers, JSON error bodies, and that
/// sessions are freed when calls end.
@Suite struct SignalingAPITests {
    static func makeEngine(maxSessions: Int = 10, keys: Set<String> = []) throws -> MediaEngine {
        try MediaEngine(
            configuration: TransceiverConfiguration(
                udpAddress: PeerAddress("127.0.0.1:0")!,
                advertisedAddresses: [PeerAddress("127.0.0.1:3478")!],
                maxSessions: maxSessions, bearerKeys: keys),
            metrics: TransceiverMetrics(),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
            logger: Logger(label: "test"))
    }

    static func clientOffer() throws -> String {
        let certificate = try DTLSCertificate.generateSelfSigned()
        let ice = ICECredentials.random()
        return SDPOfferBuilder.offer(with: SDPOfferParameters(
            iceUfrag: ice.ufrag, icePassword: ice.password,
            fingerprint: DTLSFingerprintLine(algorithm: "sha-256", digest: certificate.fingerprint.bytes),
            sessionID: 42, audioSSRC: 1234, cname: "test"))
    }

    func withAPI(_ engine: MediaEngine, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: SignalingAPI(engine: engine).makeRouter())
        try await app.test(.router, body)
    }

    @Test func validOfferIsAnsweredAndTheCallCanBeDeleted() async throws {
        let engine = try Self.makeEngine()
        let offer = try Self.clientOffer()
        try await withAPI(engine) { client in
            let location = try await client.execute(
                uri: "/v1/realtime/calls", method: .post, headers: [.contentType: "application/sdp"],
                body: ByteBuffer(string: offer)
            ) { response in
                #expect(response.status == .created)
                #expect(response.headers[.contentType] == "application/sdp")
                let answer = try SDPAnswer(parsing: String(buffer: response.body))
                #expect(answer.isICELite)
                #expect(answer.setup == .active)
                #expect(answer.candidates.map(\.port) == [3478])
                return try #require(response.headers[.location])
            }
            #expect(location.hasPrefix("/v1/realtime/calls/rtc_"))
            #expect(await engine.sessionCount == 1)
            try await client.execute(uri: location, method: .delete) { response in
                #expect(response.status == .noContent)
            }
            // DELETE is idempotent: a call that already ended answers 204 again.
            try await client.execute(uri: location, method: .delete) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/v1/realtime/calls/rtc_000000000000000000000000", method: .delete) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("no_such_call"))
            }
        }
        #expect(await engine.sessionCount == 0)
        #expect(engine.metrics.exposition().contains("parley_sessions 0"))
    }

    /// Geo-steering: the ingress names the caller's region and the answer carries that
    /// region's relays in order (primary, secondary; TCP after UDP); without the header, or
    /// for a region not configured, the advertised relay. Each outcome is counted.
    @Test func answersCarryTheRelaysOfTheCallersRegion() async throws {
        var configuration = TransceiverConfiguration(
            udpAddress: PeerAddress("127.0.0.1:0")!, advertisedAddresses: [PeerAddress("127.0.0.1:3478")!])
        configuration.regionIngress = [
            "eu": AnswerCandidates(udp: [PeerAddress("198.51.100.1:3478")!, PeerAddress("203.0.113.1:3478")!],
                                   tcp: [PeerAddress("198.51.100.1:443")!]),
        ]
        let engine = try MediaEngine(configuration: configuration, metrics: TransceiverMetrics(),
                                     eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: Logger(label: "test"))
        let offer = try Self.clientOffer()
        try await withAPI(engine) { client in
            for (region, expected) in [("eu", ["198.51.100.1:3478", "203.0.113.1:3478", "198.51.100.1:443"]),
                                       ("mars", ["127.0.0.1:3478"]), (nil, ["127.0.0.1:3478"])] {
                var headers: HTTPFields = [.contentType: "application/sdp"]
                if let region { headers[HTTPField.Name("Parley-Client-Region")!] = region }
                try await client.execute(uri: "/v1/realtime/calls", method: .post, headers: headers,
                                         body: ByteBuffer(string: offer)) { response in
                    #expect(response.status == .created)
                    let answer = try SDPAnswer(parsing: String(buffer: response.body))
                    #expect(answer.candidates.map { "\($0.address):\($0.port)" } == expected, "region \(region ?? "none")")
                }
            }
        }
        let exposition = engine.metrics.exposition()
        for result in ["steered", "unknown_region", "no_region"] {
            #expect(exposition.contains("parley_region_steering_total{result=\"\(result)\"} 1"))
        }
    }

    @Test func metricsReportSessionUtilisationForTheAutoscaler() async throws {
        let engine = try Self.makeEngine(maxSessions: 4)
        let offer = try Self.clientOffer()
        try await withAPI(engine) { client in
            let location = try await client.execute(
                uri: "/v1/realtime/calls", method: .post, headers: [.contentType: "application/sdp"], body: ByteBuffer(string: offer)
            ) { try #require($0.headers[.location]) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("parley_session_utilisation 0.25"))
            }
            try await client.execute(uri: location, method: .delete) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("parley_session_utilisation 0.0"))
            }
        }
    }

    @Test func whipIsTheSameResource() async throws {
        let engine = try Self.makeEngine()
        let offer = try Self.clientOffer()
        try await withAPI(engine) { client in
            let location = try await client.execute(
                uri: "/whip", method: .post, headers: [.contentType: "application/sdp"], body: ByteBuffer(string: offer)
            ) { response in
                #expect(response.status == .created)
                return try #require(response.headers[.location])
            }
            #expect(location.hasPrefix("/whip/rtc_"))
            try await client.execute(uri: location, method: .delete) { #expect($0.status == .noContent) }
        }
    }

    @Test(arguments: [
        ("text/plain", "v=0\r\n", HTTPResponse.Status.unsupportedMediaType, "unsupported_media_type"),
        ("application/sdp", "this is not sdp", .badRequest, "invalid_offer"),
        ("application/sdp", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n", .unprocessableContent, "no_audio"),
    ])
    func badOffersGetAnErrorThatNamesTheProblem(contentType: String, body: String, status: HTTPResponse.Status, code: String) async throws {
        let engine = try Self.makeEngine()
        try await withAPI(engine) { client in
            try await client.execute(
                uri: "/v1/realtime/calls", method: .post, headers: [.contentType: contentType], body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == status)
                #expect(response.headers[.contentType] == "application/json")
                #expect(String(buffer: response.body).contains(#""code":"\#(code)""#))
            }
        }
        #expect(await engine.sessionCount == 0)
    }

    @Test func offerWithoutOpusIsUnprocessable() async throws {
        let engine = try Self.makeEngine()
        let offer = try Self.clientOffer()
            .replacingOccurrences(of: "opus/48000/2", with: "PCMU/8000")
        try await withAPI(engine) { client in
            try await client.execute(
                uri: "/v1/realtime/calls", method: .post, headers: [.contentType: "application/sdp"], body: ByteBuffer(string: offer)
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body).contains("no_common_codec"))
            }
        }
    }

    @Test func overCapacityGets503WithRetryAfter() async throws {
        let engine = try Self.makeEngine(maxSessions: 1)
        let offer = try Self.clientOffer()
        try await withAPI(engine) { client in
            for expected in [HTTPResponse.Status.created, .serviceUnavailable] {
                try await client.execute(
                    uri: "/v1/realtime/calls", method: .post, headers: [.contentType: "application/sdp"], body: ByteBuffer(string: offer)
                ) { response in
                    #expect(response.status == expected)
                    if expected == .serviceUnavailable {
                        #expect(response.headers[.retryAfter] != nil)
                        #expect(String(buffer: response.body).contains("at_capacity"))
                    }
                }
            }
        }
    }

    @Test func bearerKeysAreEnforcedWhenConfigured() async throws {
        let engine = try Self.makeEngine(keys: ["secret"])
        let offer = try Self.clientOffer()
        try await withAPI(engine) { client in
            try await client.execute(
                uri: "/v1/realtime/calls", method: .post, headers: [.contentType: "application/sdp"], body: ByteBuffer(string: offer)
            ) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
            }
            try await client.execute(
                uri: "/v1/realtime/calls", method: .post,
                headers: [.contentType: "application/sdp", .authorization: "Bearer secret"], body: ByteBuffer(string: offer)
            ) { response in
                #expect(response.status == .created)
            }
        }
    }

    @Test func openSignalingOffLoopbackIsRefusedAtStartup() {
        let open = TransceiverConfiguration(httpAddress: PeerAddress("0.0.0.0:8080")!)
        #expect(open.authenticationProblem() != nil)
        let keyed = TransceiverConfiguration(httpAddress: PeerAddress("0.0.0.0:8080")!, bearerKeys: ["k"])
        #expect(keyed.authenticationProblem() == nil)
        #expect(TransceiverConfiguration().authenticationProblem() == nil)
    }

    @Test func corsLetsABrowserOnAnotherOriginReadTheLocation() async throws {
        let engine = try Self.makeEngine()
        try await withAPI(engine) { client in
            try await client.execute(
                uri: "/v1/realtime/calls", method: .options,
                headers: [.origin: "https://app.example", .accessControlRequestMethod: "POST"]
            ) { response in
                #expect(response.headers[.accessControlAllowOrigin] != nil)
                #expect(response.headers[.accessControlAllowMethods]?.contains("POST") == true)
            }
        }
    }

    static func form(_ parts: [(String, String)], boundary: String = "parley-form-7d2a") -> ByteBuffer {
        var text = ""
        for (name, body) in parts {
            text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(body)\r\n"
        }
        return ByteBuffer(string: text + "--\(boundary)--\r\n")
    }

    @Test func multipartOffersWithSessionSettingsAreAnswered() async throws {
        let engine = try Self.makeEngine()
        let offer = try Self.clientOffer()
        try await withAPI(engine) { client in
            try await client.execute(
                uri: "/v1/realtime/calls", method: .post,
                headers: [.contentType: "multipart/form-data; boundary=parley-form-7d2a"],
                body: Self.form([("sdp", offer), ("session", #"{"type":"realtime","audio":{"input":{"turn_detection":{"silence_duration_ms":300}}}}"#)])
            ) { response in
                #expect(response.status == .created)
                let answer = try SDPAnswer(parsing: String(buffer: response.body))
                #expect(answer.isICELite)
            }
        }
        #expect(await engine.sessionCount == 1)
    }

    @Test(arguments: [
        ("multipart/form-data", "x", "invalid_form"),
        ("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"session\"\r\n\r\n{}\r\n--b--\r\n", "missing_sdp"),
        ("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"sdp\"\r\n\r\nv=0\r\n--b\r\nContent-Disposition: form-data; name=\"session\"\r\n\r\n[1]\r\n--b--\r\n", "invalid_session"),
        ("multipart/form-data; boundary=b", "--b\r\nno blank line", "invalid_form"),
    ])
    func badFormsGetA400ThatNamesTheProblem(contentType: String, body: String, code: String) async throws {
        let engine = try Self.makeEngine()
        try await withAPI(engine) { client in
            try await client.execute(
                uri: "/v1/realtime/calls", method: .post, headers: [.contentType: contentType], body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains(#""code":"\#(code)""#))
            }
        }
        #expect(await engine.sessionCount == 0)
    }
}
