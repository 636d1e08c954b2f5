import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ParleyTransceiver
import ParleyWebRTC
import ParleyWire
import Testing

/// `a=sctp-init` (SNAP, draft-hancke-tsvwg-snap-00) at the signaling API: answered in kind
/// and counted, or refused with a 400 that says what is wrong with it.
@Suite struct SignalingSNAPTests {
    static func offer(sctpInitiation: SCTPInitChunk?) throws -> String {
        let certificate = try DTLSCertificate.generateSelfSigned()
        let ice = ICECredentials.random()
        return SDPOfferBuilder.offer(with: SDPOfferParameters(
            iceUfrag: ice.ufrag, icePassword: ice.password,
            fingerprint: DTLSFingerprintLine(algorithm: "sha-256", digest: certificate.fingerprint.bytes),
            sessionID: 42, audioSSRC: 1234, cname: "test", offerApplication: true, sctpInitiation: sctpInitiation))
    }

    static func post(_ offer: String, to client: any TestClientProtocol) async throws -> (HTTPResponse.Status, String) {
        try await client.execute(uri: "/v1/realtime/calls", method: .post, headers: [.contentType: "application/sdp"],
                                 body: ByteBuffer(string: offer)) { ($0.status, String(buffer: $0.body)) }
    }

    @Test func callsAreAnsweredInKindAndCountedBySCTPSetup() async throws {
        let engine = try SignalingAPITests.makeEngine()
        var generator = SystemRandomNumberGenerator()
        let ours = SCTPAssociation.Configuration(isDTLSClient: false).makeInitiation(using: &generator)
        let snapOffer = try Self.offer(sctpInitiation: ours)
        let classicOffer = try Self.offer(sctpInitiation: nil)
        try await withApplication(engine) { client in
            let (snapStatus, snapAnswer) = try await Self.post(snapOffer, to: client)
            #expect(snapStatus == .created)
            let initiation = try #require(try SDPAnswer(parsing: snapAnswer).application?.sctpInitiation)
            #expect(initiation.initiateTag != 0 && initiation.supportsForwardTSN && initiation.supportsReconfig)
            let (classicStatus, classicAnswer) = try await Self.post(classicOffer, to: client)
            #expect(classicStatus == .created)
            #expect(try SDPAnswer(parsing: classicAnswer).application?.sctpInitiation == nil)
        }
        let exposition = engine.metrics.exposition()
        #expect(exposition.contains(#"parley_data_channel_setups_total{sctp="snap"} 1"#))
        #expect(exposition.contains(#"parley_data_channel_setups_total{sctp="handshake"} 1"#))
    }

    @Test func aBadSCTPInitIsA400ThatSaysWhatIsWrong() async throws {
        let engine = try SignalingAPITests.makeEngine()
        let offer = try Self.offer(sctpInitiation: nil)
            .replacingOccurrences(of: "a=max-message-size:262144\r\n", with: "a=max-message-size:262144\r\na=sctp-init:AgAAHmDX\r\n")
        try await withApplication(engine) { client in
            let (status, body) = try await Self.post(offer, to: client)
            #expect(status == .badRequest)
            #expect(body.contains(#""code":"invalid_offer""#))
            #expect(body.contains("a=sctp-init is not a valid SCTP INIT chunk: the chunk has type 2 where type 1 belongs"), "\(body)")
        }
        #expect(await engine.sessionCount == 0)
    }

    private func withApplication(_ engine: MediaEngine, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await Application(router: SignalingAPI(engine: engine).makeRouter()).test(.router, body)
    }
}
