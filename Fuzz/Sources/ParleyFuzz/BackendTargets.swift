import ParleyAgent
import ParleyEndpoint
import ParleyRelay
import ParleyRouting
import ParleyTransceiver
import ParleyWire

/// The routing token in the server ufrag (docs/routing-token.md), the signed owner in call ids,
/// client secrets (`ek_...`) and call ids as the signaling API reads them: none may trap, and a
/// token that verifies decodes to the same fields without the key.
enum RoutingTokenTarget {
    static let target = FuzzTarget(name: "routing-token", run: run, seeds: Seeds.routingToken)
    static let keyring = RoutingKeyring.development()

    static func run(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        let verified = input.withUnsafeBytes { RoutingToken.verify($0, keyring: keyring) }
        if let verified {
            require((try? RoutingToken.decodeUnverified(text).get()) == verified, "a verified token decodes differently")
        }
        _ = RoutingToken.verify(text, keyring: keyring)
        _ = input.withUnsafeBytes { RoutingToken.verify(username: $0, keyring: keyring) }
        _ = RoutingToken.decodeUnverified(text)
        _ = try? ClientSecret(verifying: text, keyring: keyring, now: 1_700_000_000)
        if let id = SessionID(rawValue: text) { _ = id.owner(keyring: keyring) }
        let hex = text.drop { $0 == "r" || $0 == "t" || $0 == "c" || $0 == "_" }
        if let random = CallOwner.bytes(fromHex: hex.prefix(24)) {
            _ = CallOwner.owner(random: random, suffix: hex.dropFirst(24), keyring: keyring)
        }
    }
}

/// `multipart/form-data` bodies of `POST /v1/realtime/calls` (RFC 7578): the first line is
/// the Content-Type, the rest the body.
enum MultipartFormTarget {
    static let target = FuzzTarget(name: "multipart-form", run: run)

    static func run(_ input: [UInt8]) {
        let split = input.firstIndex(of: 10) ?? input.endIndex
        let contentType = String(decoding: input[..<split], as: UTF8.self)
        let body = Array(input[min(split + 1, input.endIndex)...])
        guard let boundary = MultipartFormData.boundary(inContentType: contentType) else { return }
        guard let form = try? MultipartFormData(body: body, boundary: boundary) else { return }
        _ = form.part(named: "sdp")
        _ = form.part(named: "session")
    }
}

/// Binary frames from a backend (docs/backend-protocol.md): a frame that parses re-encodes
/// to the same bytes.
enum BackendFrameTarget {
    static let target = FuzzTarget(name: "backend-frame", run: run, seeds: Seeds.backendFrame)

    static func run(_ input: [UInt8]) {
        guard let frame = BackendAudioFrame(bytes: input) else { return }
        var expected = input
        expected[2] = 0
        expected[3] = 0
        require(frame.encoded() == expected, "a backend audio frame does not re-encode to its bytes")
    }
}

/// JSON events from the data channel, a sideband or a backend (Realtime API vocabulary):
/// parsed, re-encoded and parsed to the same event, applied as a `session.update` and handed to
/// the built-in agent with a little audio, whose actions are drained.
enum RealtimeEventTarget {
    static let target = FuzzTarget(name: "realtime-event", run: run)

    static func run(_ input: [UInt8]) {
        guard let event = try? RealtimeEvent(json: input) else { return }
        let again = try? RealtimeEvent(json: event.encodedJSON())
        require(again == event, "a Realtime event does not survive encode and parse")
        var session = RealtimeSession(id: "sess_fuzz")
        var agent = BuiltInAgent()
        var merged = event
        if event.type == "session.update" {
            guard (try? session.apply(event["session"] ?? [:])) != nil else { return }
            merged["session"] = session.value
            _ = session.updatedEvent.encodedJSON()
        }
        agent.handleClientEvent(merged)
        for index in 0..<3 { agent.handleAudio([Int16](repeating: Int16(index * 3_000), count: 960)) }
        var actions = 0
        while agent.pollAction() != nil, actions < 1_000 { actions += 1 }
    }
}

/// RESP2 replies from Redis (the flow store): a value that parses used no more bytes than given.
enum RedisRESPTarget {
    static let target = FuzzTarget(name: "redis-resp", run: run)

    static func run(_ input: [UInt8]) {
        input.withUnsafeBytes { bytes in
            guard case .some(.some(let (_, length))) = try? RedisRESP.parse(bytes) else { return }
            require(length > 0 && length <= bytes.count, "a RESP value claims \(length) of \(bytes.count) bytes")
        }
    }
}
