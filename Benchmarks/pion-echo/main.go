// Command pionecho is a small Pion WebRTC peer that speaks Parley's signaling API
// (POST /v1/realtime/calls with an SDP offer, DELETE the returned Location) and echoes
// every Opus RTP packet it receives back to the sender. It is an independent reference
// peer for Parley's interop tests and benchmarks: ICE-lite on one UDP port, the server
// starts DTLS (a=setup:active), Opus only, echo at the transport level (no transcoding).
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/webrtc/v3"
)

const callsPath = "/v1/realtime/calls"

// maxOfferBytes bounds the request body; real offers are a few kilobytes.
const maxOfferBytes = 64 << 10

// gatheringTimeout bounds the wait for local ICE gathering (one mux candidate, so it is quick).
const gatheringTimeout = 5 * time.Second

type server struct {
	api   *webrtc.API
	web   string
	mu    sync.Mutex
	calls map[string]*webrtc.PeerConnection
}

func main() {
	httpAddr := flag.String("http", "127.0.0.1:8080", "HTTP listen address (signaling and demo page)")
	udpAddr := flag.String("udp", "127.0.0.1:3478", "UDP address for all media; must be a concrete IP, it is the answer's candidate")
	webDir := flag.String("web", "", "directory whose index.html is served at / (optional)")
	flag.Parse()

	conn, err := listenUDP(*udpAddr)
	if err != nil {
		log.Fatalf("pionecho: %v", err)
	}
	api, err := newAPI(conn)
	if err != nil {
		log.Fatalf("pionecho: %v", err)
	}
	s := &server{api: api, web: *webDir, calls: map[string]*webrtc.PeerConnection{}}

	mux := http.NewServeMux()
	mux.HandleFunc(callsPath, s.handleCreate)
	mux.HandleFunc(callsPath+"/", s.handleDelete)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/", s.handleIndex)

	listener, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatalf("pionecho: listen http %s: %v", *httpAddr, err)
	}
	httpServer := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := httpServer.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("pionecho: http: %v", err)
		}
	}()
	log.Printf("pionecho: http %s udp %s", listener.Addr(), conn.LocalAddr())

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
	_ = httpServer.Close()
	s.closeAll()
	_ = conn.Close()
}

func listenUDP(address string) (*net.UDPConn, error) {
	addr, err := net.ResolveUDPAddr("udp", address)
	if err != nil {
		return nil, fmt.Errorf("udp address %q: %w", address, err)
	}
	if addr.IP == nil || addr.IP.IsUnspecified() {
		return nil, fmt.Errorf("udp address %q: needs a concrete IP, it becomes the answer's only candidate", address)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", address, err)
	}
	return conn, nil
}

// newAPI builds a Pion API that is ICE-lite on the one shared UDP socket, answers as the
// DTLS client (a=setup:active) and knows only Opus.
func newAPI(conn *net.UDPConn) (*webrtc.API, error) {
	media := &webrtc.MediaEngine{}
	opus := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}
	if err := media.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}
	settings := webrtc.SettingEngine{}
	settings.SetLite(true)
	settings.SetICEUDPMux(webrtc.NewICEUDPMux(nil, conn))
	settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if err := settings.SetAnsweringDTLSRole(webrtc.DTLSRoleClient); err != nil {
		return nil, fmt.Errorf("dtls role: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(media), webrtc.WithSettingEngine(settings)), nil
}

func (s *server) handleIndex(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" || s.web == "" {
		writeError(w, http.StatusNotFound, "not_found", "no such resource")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return
	}
	http.ServeFile(w, r, filepath.Join(s.web, "index.html"))
}

func (s *server) handleCreate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST with an SDP offer")
		return
	}
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mediaType != "application/sdp" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/sdp")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxOfferBytes+1))
	if err != nil || len(body) == 0 || len(body) > maxOfferBytes {
		writeError(w, http.StatusBadRequest, "invalid_offer", "the body must be an SDP offer under 64 KiB")
		return
	}
	id, answer, err := s.answer(string(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_offer", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", callsPath+"/"+id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

func (s *server) handleDelete(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use DELETE")
		return
	}
	id := strings.TrimPrefix(r.URL.Path, callsPath+"/")
	s.mu.Lock()
	pc, ok := s.calls[id]
	delete(s.calls, id)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "call_not_found", "no call with this id")
		return
	}
	_ = pc.Close()
	w.WriteHeader(http.StatusNoContent)
}

// answer creates a peer connection for the offer, wires the echo (the echo track reuses
// the offer's audio transceiver, so the answer is sendrecv), and returns the call id
// and the answer SDP once ICE gathering is complete (so the answer carries the candidate).
func (s *server) answer(offer string) (string, string, error) {
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", "", fmt.Errorf("new peer connection: %w", err)
	}
	fail := func(err error) (string, string, error) {
		_ = pc.Close()
		return "", "", err
	}
	echo, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "pionecho")
	if err != nil {
		return fail(fmt.Errorf("echo track: %w", err))
	}
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { echoPackets(remote, echo) })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(fmt.Errorf("offer: %w", err))
	}
	sender, err := pc.AddTrack(echo)
	if err != nil {
		return fail(fmt.Errorf("add echo track: %w", err))
	}
	go drainRTCP(sender)

	id, err := newCallID()
	if err != nil {
		return fail(err)
	}
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		if state == webrtc.PeerConnectionStateFailed || state == webrtc.PeerConnectionStateClosed {
			s.forget(id, pc)
		}
	})

	local, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("create answer: %w", err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(local); err != nil {
		return fail(fmt.Errorf("set local description: %w", err))
	}
	select {
	case <-gathered:
	case <-time.After(gatheringTimeout):
		return fail(errors.New("ICE gathering did not complete"))
	}
	s.mu.Lock()
	s.calls[id] = pc
	s.mu.Unlock()
	return id, pc.LocalDescription().SDP, nil
}

// echoPackets writes every RTP packet of the remote track to the local echo track until
// the remote track ends; Pion rewrites SSRC and payload type for the send side.
func echoPackets(remote *webrtc.TrackRemote, echo *webrtc.TrackLocalStaticRTP) {
	if remote.Kind() != webrtc.RTPCodecTypeAudio {
		return
	}
	for {
		packet, _, err := remote.ReadRTP()
		if err != nil {
			return
		}
		if err := echo.WriteRTP(packet); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return
		}
	}
}

// drainRTCP reads the sender's incoming RTCP so Pion's interceptors keep running.
func drainRTCP(sender *webrtc.RTPSender) {
	buffer := make([]byte, 1500)
	for {
		if _, _, err := sender.Read(buffer); err != nil {
			return
		}
	}
}

func (s *server) forget(id string, pc *webrtc.PeerConnection) {
	s.mu.Lock()
	if s.calls[id] == pc {
		delete(s.calls, id)
	}
	s.mu.Unlock()
	_ = pc.Close()
}

func (s *server) closeAll() {
	s.mu.Lock()
	calls := s.calls
	s.calls = map[string]*webrtc.PeerConnection{}
	s.mu.Unlock()
	for _, pc := range calls {
		_ = pc.Close()
	}
}

func newCallID() (string, error) {
	raw := make([]byte, 12)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("call id: %w", err)
	}
	return hex.EncodeToString(raw), nil
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	payload := map[string]map[string]string{"error": {"code": code, "message": message}}
	_ = json.NewEncoder(w).Encode(payload)
}
