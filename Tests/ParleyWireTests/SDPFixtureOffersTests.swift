import ParleyWire

/// Real and realistic offers. Chromium 156 and aiortc 1.16.0 were captured on this machine
/// (Chromium: headless, addTransceiver audio and video plus a data channel, no candidates yet;
/// aiortc: one audio transceiver plus a data channel). Firefox and Safari are written in the
/// shape those browsers produce (Firefox: session-level fingerprint, Opus on 109; Safari:
/// Chromium-like, with mDNS and srflx candidates). Stored with LF; `crlf` gives the wire form.
enum SDPFixtures {
    static let chromium = """
v=0
o=- 966859519154848745 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1 2
a=extmap-allow-mixed
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:/oEk
a=ice-pwd:IvPsIsVamso4b6kfye0Qw9Js
a=ice-options:trickle
a=fingerprint:sha-256 99:29:47:33:47:0A:46:62:69:E9:A0:D4:37:FF:EE:A1:B0:F0:B4:27:8C:FB:07:09:AE:CC:40:34:95:BA:7F:E1
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:- f066093c-3e6f-4b91-b6bd-3205046a36ba
a=rtcp-mux
a=rtcp-rsize
a=rtcp-xr:rcvr-rtt=all
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:2501991488 cname:WBgF/hW4sIob5eya
a=ssrc:2501991488 msid:- f066093c-3e6f-4b91-b6bd-3205046a36ba
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 107 108 109 114 115 116 117 39 40 45 46 98 99 100 101 118 119 120
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:/oEk
a=ice-pwd:IvPsIsVamso4b6kfye0Qw9Js
a=ice-options:trickle
a=fingerprint:sha-256 99:29:47:33:47:0A:46:62:69:E9:A0:D4:37:FF:EE:A1:B0:F0:B4:27:8C:FB:07:09:AE:CC:40:34:95:BA:7F:E1
a=setup:actpass
a=mid:1
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:13 urn:3gpp:video-orientation
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay
a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type
a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing
a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=sendrecv
a=msid:- 028fb1bf-2daf-4d30-a565-a537f0d90cb0
a=rtcp-mux
a=rtcp-rsize
a=rtcp-xr:rcvr-rtt=all
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=rtcp-fb:102 goog-remb
a=rtcp-fb:102 transport-cc
a=rtcp-fb:102 ccm fir
a=rtcp-fb:102 nack
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:104 H264/90000
a=rtcp-fb:104 goog-remb
a=rtcp-fb:104 transport-cc
a=rtcp-fb:104 ccm fir
a=rtcp-fb:104 nack
a=rtcp-fb:104 nack pli
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:107 rtx/90000
a=fmtp:107 apt=104
a=rtpmap:108 H264/90000
a=rtcp-fb:108 goog-remb
a=rtcp-fb:108 transport-cc
a=rtcp-fb:108 ccm fir
a=rtcp-fb:108 nack
a=rtcp-fb:108 nack pli
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:109 rtx/90000
a=fmtp:109 apt=108
a=rtpmap:114 H264/90000
a=rtcp-fb:114 goog-remb
a=rtcp-fb:114 transport-cc
a=rtcp-fb:114 ccm fir
a=rtcp-fb:114 nack
a=rtcp-fb:114 nack pli
a=fmtp:114 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:115 rtx/90000
a=fmtp:115 apt=114
a=rtpmap:116 H264/90000
a=rtcp-fb:116 goog-remb
a=rtcp-fb:116 transport-cc
a=rtcp-fb:116 ccm fir
a=rtcp-fb:116 nack
a=rtcp-fb:116 nack pli
a=fmtp:116 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f
a=rtpmap:117 rtx/90000
a=fmtp:117 apt=116
a=rtpmap:39 H264/90000
a=rtcp-fb:39 goog-remb
a=rtcp-fb:39 transport-cc
a=rtcp-fb:39 ccm fir
a=rtcp-fb:39 nack
a=rtcp-fb:39 nack pli
a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f
a=rtpmap:40 rtx/90000
a=fmtp:40 apt=39
a=rtpmap:45 AV1/90000
a=rtcp-fb:45 goog-remb
a=rtcp-fb:45 transport-cc
a=rtcp-fb:45 ccm fir
a=rtcp-fb:45 nack
a=rtcp-fb:45 nack pli
a=fmtp:45 level-idx=5;profile=0;tier=0
a=rtpmap:46 rtx/90000
a=fmtp:46 apt=45
a=rtpmap:98 VP9/90000
a=rtcp-fb:98 goog-remb
a=rtcp-fb:98 transport-cc
a=rtcp-fb:98 ccm fir
a=rtcp-fb:98 nack
a=rtcp-fb:98 nack pli
a=fmtp:98 profile-id=0
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rtpmap:100 VP9/90000
a=rtcp-fb:100 goog-remb
a=rtcp-fb:100 transport-cc
a=rtcp-fb:100 ccm fir
a=rtcp-fb:100 nack
a=rtcp-fb:100 nack pli
a=fmtp:100 profile-id=2
a=rtpmap:101 rtx/90000
a=fmtp:101 apt=100
a=rtpmap:118 red/90000
a=rtpmap:119 rtx/90000
a=fmtp:119 apt=118
a=rtpmap:120 ulpfec/90000
a=ssrc-group:FID 961350979 3493566745
a=ssrc:961350979 cname:WBgF/hW4sIob5eya
a=ssrc:961350979 msid:- 028fb1bf-2daf-4d30-a565-a537f0d90cb0
a=ssrc:3493566745 cname:WBgF/hW4sIob5eya
a=ssrc:3493566745 msid:- 028fb1bf-2daf-4d30-a565-a537f0d90cb0
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=ice-ufrag:/oEk
a=ice-pwd:IvPsIsVamso4b6kfye0Qw9Js
a=ice-options:trickle
a=fingerprint:sha-256 99:29:47:33:47:0A:46:62:69:E9:A0:D4:37:FF:EE:A1:B0:F0:B4:27:8C:FB:07:09:AE:CC:40:34:95:BA:7F:E1
a=setup:actpass
a=mid:2
a=sctp-port:5000
a=max-message-size:262144
"""

    static let firefox = """
v=0
o=mozilla...THIS_IS_SDPARTA-128.0 8315843592187034217 0 IN IP4 0.0.0.0
s=-
t=0 0
a=fingerprint:sha-256 27:A0:AE:B3:FE:E9:23:2F:8A:F2:21:1F:9E:E4:91:C5:B1:0B:EC:B5:56:3B:FC:1E:6F:93:42:7E:CB:C8:FE:29
a=group:BUNDLE 0 1
a=ice-options:trickle
a=msid-semantic:WMS *
m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101
c=IN IP4 0.0.0.0
a=sendrecv
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level
a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid
a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1
a=fmtp:101 0-15
a=ice-pwd:e3a4d7c2b1f0e9d8c7b6a5f4e3d2c1b0
a=ice-ufrag:9f8e7d6c
a=mid:0
a=msid:{5f3c2b1a-0e9d-4c8b-a7f6-e5d4c3b2a190} {7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918}
a=rtcp-mux
a=rtpmap:109 opus/48000/2
a=rtpmap:9 G722/8000/1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000/1
a=setup:actpass
a=ssrc:2815417425 cname:{0f3a9c1e-8b2d-4e5f-9a1b-2c3d4e5f6a7b}
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=sendrecv
a=ice-pwd:e3a4d7c2b1f0e9d8c7b6a5f4e3d2c1b0
a=ice-ufrag:9f8e7d6c
a=mid:1
a=setup:actpass
a=sctp-port:5000
a=max-message-size:1073741823
"""

    static let safari = """
v=0
o=- 3905671289573468126 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS 8d1c6a3e-52f0-4b7a-9e21-c4d3b2a1f0e9
m=audio 57281 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 203.0.113.7
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1823651842 1 udp 2122260223 4b7c2f1e-7a3d-4e8b-9c1d-2e3f4a5b6c7d.local 57281 typ host generation 0 network-cost 999
a=candidate:842163049 1 udp 1686052607 203.0.113.7 57281 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-cost 999
a=ice-ufrag:Xq3v
a=ice-pwd:8fJ2kLm9Pq4rSt7uVw1xYz5A
a=ice-options:trickle
a=fingerprint:sha-256 55:E5:CD:8E:46:DC:8E:D4:B7:C2:76:4D:2A:5A:4D:76:77:06:F8:5D:86:90:02:4A:D6:BD:A3:40:1B:E9:C8:CB
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:8d1c6a3e-52f0-4b7a-9e21-c4d3b2a1f0e9 3b9a7c15-6e2d-4f80-a1b2-c3d4e5f60718
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:1394762281 cname:hQ2kJ8mZ4pR7vT1x
a=ssrc:1394762281 msid:8d1c6a3e-52f0-4b7a-9e21-c4d3b2a1f0e9 3b9a7c15-6e2d-4f80-a1b2-c3d4e5f60718
m=application 57281 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 203.0.113.7
a=candidate:1823651842 1 udp 2122260223 4b7c2f1e-7a3d-4e8b-9c1d-2e3f4a5b6c7d.local 57281 typ host generation 0 network-cost 999
a=candidate:842163049 1 udp 1686052607 203.0.113.7 57281 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-cost 999
a=ice-ufrag:Xq3v
a=ice-pwd:8fJ2kLm9Pq4rSt7uVw1xYz5A
a=ice-options:trickle
a=fingerprint:sha-256 55:E5:CD:8E:46:DC:8E:D4:B7:C2:76:4D:2A:5A:4D:76:77:06:F8:5D:86:90:02:4A:D6:BD:A3:40:1B:E9:C8:CB
a=setup:actpass
a=mid:1
a=sctp-port:5000
a=max-message-size:262144
"""

    static let aiortc = """
v=0
o=- 4004536109 4004536109 IN IP4 0.0.0.0
s=-
t=0 0
a=group:BUNDLE 0 1
a=msid-semantic:WMS *
m=audio 34714 UDP/TLS/RTP/SAVPF 96 9 0 8
c=IN IP4 192.0.2.2
a=sendrecv
a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=mid:0
a=msid:ef8acb8d-6602-4179-9d3f-647d43c44bf3 c084373a-cc5a-4935-901e-a54b26647008
a=rtcp:9 IN IP4 0.0.0.0
a=rtcp-mux
a=ssrc:2457974749 cname:0ba23ad9-880f-4da5-be66-76322eba70e9
a=rtpmap:96 opus/48000/2
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=candidate:f957a2332b1715da3b0ef8ba684454eb 1 udp 2130706431 192.0.2.2 34714 typ host
a=candidate:d0bcf3d9c29a2bc887618212a1623bfa 1 udp 2130706431 fd00::2 59073 typ host
a=end-of-candidates
a=ice-ufrag:zALt
a=ice-pwd:WNBTRlDqiJGmClOEEVnCSW
a=fingerprint:sha-256 05:C6:BB:B0:F7:73:E0:BA:67:4E:57:A9:0F:E6:24:5A:3A:BD:E5:23:30:20:E7:24:F7:0C:D1:A9:B0:76:51:BC
a=fingerprint:sha-384 F6:95:94:25:E2:0A:9F:F2:7C:C5:E7:1D:52:03:54:69:89:07:02:51:B9:87:9D:2B:45:ED:49:11:57:7F:D7:EA:E8:6F:56:A4:56:55:C7:0D:1C:1B:35:A2:37:B0:86:3A
a=fingerprint:sha-512 64:AA:56:F9:62:51:CF:2B:F9:D5:D7:70:51:0D:D9:28:24:30:AF:B1:B8:8A:25:9E:25:CA:A4:FE:06:05:96:0C:1D:22:B6:78:C2:36:21:CE:4F:C4:0F:B8:7A:3C:DA:35:F9:7D:07:35:34:C8:B1:ED:33:17:34:D3:97:01:F6:1B
a=setup:actpass
m=application 49747 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 192.0.2.2
a=mid:1
a=sctp-port:5000
a=max-message-size:262144
a=candidate:f957a2332b1715da3b0ef8ba684454eb 1 udp 2130706431 192.0.2.2 49747 typ host
a=candidate:d0bcf3d9c29a2bc887618212a1623bfa 1 udp 2130706431 fd00::2 52312 typ host
a=end-of-candidates
a=ice-ufrag:zALt
a=ice-pwd:WNBTRlDqiJGmClOEEVnCSW
a=fingerprint:sha-256 05:C6:BB:B0:F7:73:E0:BA:67:4E:57:A9:0F:E6:24:5A:3A:BD:E5:23:30:20:E7:24:F7:0C:D1:A9:B0:76:51:BC
a=fingerprint:sha-384 F6:95:94:25:E2:0A:9F:F2:7C:C5:E7:1D:52:03:54:69:89:07:02:51:B9:87:9D:2B:45:ED:49:11:57:7F:D7:EA:E8:6F:56:A4:56:55:C7:0D:1C:1B:35:A2:37:B0:86:3A
a=fingerprint:sha-512 64:AA:56:F9:62:51:CF:2B:F9:D5:D7:70:51:0D:D9:28:24:30:AF:B1:B8:8A:25:9E:25:CA:A4:FE:06:05:96:0C:1D:22:B6:78:C2:36:21:CE:4F:C4:0F:B8:7A:3C:DA:35:F9:7D:07:35:34:C8:B1:ED:33:17:34:D3:97:01:F6:1B
a=setup:actpass
"""

    static let all: [(name: String, text: String)] = [
        ("chromium", chromium), ("firefox", firefox), ("safari", safari), ("aiortc", aiortc),
    ]

    static func crlf(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n")
    }

    /// The text without the lines that satisfy `predicate`.
    static func removingLines(_ text: String, where predicate: (Substring) -> Bool) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).filter { !predicate($0) }.joined(separator: "\n")
    }

    /// The text with the first line equal to `line` replaced by `replacement`.
    static func replacingLine(_ text: String, _ line: String, with replacement: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let index = lines.firstIndex(of: line) { lines[index] = replacement }
        return lines.joined(separator: "\n")
    }

    /// Server-side answer parameters used across the tests.
    static let serverParameters = SDPAnswerParameters(
        iceUfrag: "PRLYtoken0001", icePassword: "serverPassword0123456789",
        fingerprint: DTLSFingerprintLine(algorithm: "sha-256", digest: (0..<32).map { UInt8($0 * 7 & 0xFF) }),
        candidates: [PeerAddress("198.51.100.10:3478")!, PeerAddress("[2001:db8::10]:3478")!],
        sessionID: 4_611_686_018_427_387_904, audioSSRC: 0xCAFE_F00D, cname: "parley-server")
}

import Testing

@Test(arguments: SDPFixtures.all.map(\.name))
func realisticOfferParsesWithLFAndCRLF(name: String) throws {
    let text = try #require(SDPFixtures.all.first { $0.name == name }).text
    let lf = try SDPOffer(parsing: text)
    let crlf = try SDPOffer(parsing: SDPFixtures.crlf(text))
    #expect(lf.description == crlf.description)
    #expect(lf.audio == crlf.audio)
    #expect(lf.audio.mid == "0")
    #expect(lf.audio.mLineIndex == 0)
    #expect(lf.audio.direction == .sendrecv)
    #expect(lf.audio.supportsRTCPMux)
    #expect(lf.setup == .actpass)
    #expect(lf.fingerprint.algorithm == "sha-256")
    #expect(lf.fingerprint.digest.count == 32)
    #expect(lf.application?.mid == (name == "chromium" ? "2" : "1"))
    #expect(lf.bundleGroup == (name == "chromium" ? ["0", "1", "2"] : ["0", "1"]))
}

@Test func chromiumOfferFields() throws {
    let offer = try SDPOffer(parsing: SDPFixtures.chromium)
    #expect(offer.iceUfrag == "/oEk")
    #expect(offer.icePassword == "IvPsIsVamso4b6kfye0Qw9Js")
    #expect(offer.fingerprint.value.hasPrefix("99:29:47:33"))
    #expect(offer.audio.opusPayloadType == 111)
    #expect(offer.audio.opusFmtp == "minptime=10;useinbandfec=1")
    #expect(offer.audio.ssrc == 2_501_991_488)
    #expect(offer.audio.cname == "WBgF/hW4sIob5eya")
    #expect(offer.audio.rtcpFeedback == ["transport-cc"])
    #expect(offer.audio.extmaps.map(\.id) == [1, 2, 3, 4])
    #expect(offer.audio.extmaps.last?.uri == "urn:ietf:params:rtp-hdrext:sdes:mid")
    #expect(offer.description.media.map(\.kind) == ["audio", "video", "application"])
    #expect(offer.application?.sctpPort == 5000)
    #expect(offer.application?.maxMessageSize == 262_144)
    #expect(offer.candidates.isEmpty)
}

@Test func firefoxOfferUsesSessionLevelFingerprintAndPT109() throws {
    let offer = try SDPOffer(parsing: SDPFixtures.firefox)
    #expect(offer.audio.opusPayloadType == 109)
    #expect(offer.audio.opusFmtp == "maxplaybackrate=48000;stereo=1;useinbandfec=1")
    #expect(offer.fingerprint.value == "27:A0:AE:B3:FE:E9:23:2F:8A:F2:21:1F:9E:E4:91:C5:B1:0B:EC:B5:56:3B:FC:1E:6F:93:42:7E:CB:C8:FE:29")
    #expect(offer.iceUfrag == "9f8e7d6c")
    #expect(offer.audio.cname == "{0f3a9c1e-8b2d-4e5f-9a1b-2c3d4e5f6a7b}")
    #expect(offer.audio.extmaps[1] == SDPExtmap(id: 2, direction: .recvonly, uri: "urn:ietf:params:rtp-hdrext:csrc-audio-level"))
    #expect(offer.application?.maxMessageSize == 1_073_741_823)
}

@Test func safariOfferCarriesMDNSAndServerReflexiveCandidates() throws {
    let offer = try SDPOffer(parsing: SDPFixtures.safari)
    #expect(offer.candidates.count == 2)
    let host = offer.candidates[0]
    #expect(host.type == .host)
    #expect(host.address.hasSuffix(".local"))
    #expect(host.peerAddress == nil)
    #expect(host.extensions == [.init(name: "generation", value: "0"), .init(name: "network-cost", value: "999")])
    let srflx = offer.candidates[1]
    #expect(srflx.type == .srflx)
    #expect(srflx.priority == 1_686_052_607)
    #expect(srflx.peerAddress == PeerAddress("203.0.113.7:57281"))
    #expect(srflx.relatedAddress == "0.0.0.0")
    #expect(srflx.relatedPort == 0)
    #expect(srflx.description == "candidate:842163049 1 udp 1686052607 203.0.113.7 57281 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-cost 999")
}

@Test func aiortcOfferPrefersSHA256AndReadsCandidatesOfTheBundleTaggedSection() throws {
    let offer = try SDPOffer(parsing: SDPFixtures.aiortc)
    #expect(offer.audio.opusPayloadType == 96)
    #expect(offer.audio.opusFmtp == nil)
    #expect(offer.fingerprint.algorithm == "sha-256")
    #expect(offer.iceUfrag == "zALt")
    #expect(offer.icePassword == "WNBTRlDqiJGmClOEEVnCSW")
    #expect(offer.candidates.map(\.port) == [34714, 59073])
    #expect(offer.candidates.map { $0.peerAddress?.description } == ["192.0.2.2:34714", "[fd00::2]:59073"])
    #expect(offer.candidates.allSatisfy { $0.transport == "udp" && $0.component == 1 && $0.priority == 2_130_706_431 })
}
