import ParleyTestSupport
import ParleyWire
import Testing

@testable import ParleyWebRTC

#if canImport(Glibc)
import Glibc
#endif

/// One stream of packets sent every `packetMilliseconds`, each arriving after its own delay,
/// played through a buffer on injected time: arrivals and deadlines in time order, an arrival
/// at the same instant as a deadline taken first, a deadline already past served at once.
private struct StreamSimulation {
    var buffer: AudioJitterBuffer
    /// The time of the last arrival or playout.
    private var clock = Self.start
    /// Packets not delivered yet, by arrival time.
    private var arrivals: [(at: Instant, audio: PeerConnection.ReceivedAudio)] = []
    var played: [(at: Instant, playout: AudioJitterBuffer.Playout)] = []
    var depths: [Duration] = []

    init(buffer: AudioJitterBuffer = AudioJitterBuffer()) {
        self.buffer = buffer
    }

    static let start = Instant(nanoseconds: 1_000_000_000)

    static func packet(_ sequence: UInt16, timestamp: UInt32, ssrc: UInt32 = 0x5EED) -> PeerConnection.ReceivedAudio {
        PeerConnection.ReceivedAudio(
            sequenceNumber: sequence, rtpTimestamp: timestamp, ssrc: ssrc,
            payload: [UInt8(sequence >> 8), UInt8(sequence & 0xFF)])
    }

    /// Sends packets `indices` of a stream that starts at `firstSequence`/`firstTimestamp`;
    /// `delay(i)` is packet i's network delay.
    mutating func send(
        _ indices: Range<Int>, firstSequence: UInt16 = 1_000, firstTimestamp: UInt32 = 90_000,
        packetMilliseconds: Int = 20, skipping lost: Set<Int> = [], delay: (Int) -> Duration
    ) {
        for index in indices where !lost.contains(index) {
            let sent = Self.start + .milliseconds(index * packetMilliseconds)
            let audio = Self.packet(
                firstSequence &+ UInt16(truncatingIfNeeded: index),
                timestamp: firstTimestamp &+ UInt32(index * packetMilliseconds * 48))
            arrivals.append((sent + delay(index), audio))
        }
        arrivals = arrivals.enumerated()
            .sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }
            .map(\.element)
    }

    /// Plays until `end`, or else until every packet has arrived and been played; with
    /// `idling`, on until the buffer stops concealing.
    mutating func run(until end: Instant? = nil, idling: Bool = false) {
        while true {
            let deadline = buffer.nextDeadline()
            if let arrival = arrivals.first, arrival.at <= end ?? arrival.at, deadline.map({ arrival.at <= $0 }) ?? true {
                buffer.insert(arrival.audio, now: arrival.at)
                clock = max(clock, arrival.at)
                arrivals.removeFirst()
                continue
            }
            guard let deadline, deadline <= end ?? deadline else { return }
            if end == nil, !idling, arrivals.isEmpty, buffer.bufferedPackets == 0 { return }
            clock = max(clock, deadline)
            guard let playout = buffer.poll(now: clock) else {
                Issue.record("nothing to play at the buffer's own deadline \(deadline)")
                return
            }
            played.append((clock, playout))
            depths.append(buffer.depth)
        }
    }

    /// The sequence numbers of the packets decoded, in playout order.
    var decodedSequences: [UInt16] {
        played.compactMap {
            guard case .decode(let audio) = $0.playout else { return nil }
            #expect(audio.payload == [UInt8(audio.sequenceNumber >> 8), UInt8(audio.sequenceNumber & 0xFF)])
            return audio.sequenceNumber
        }
    }
}

/// A speech-like test signal: a 130–170 Hz glottal pitch with harmonics under a moving
/// formant and a syllable-rate envelope.
private func voice(sampleRate: Int, count: Int) -> [Int16] {
    var phase = 0.0
    return (0..<count).map { index in
        let time = Double(index) / Double(sampleRate)
        let pitch = 150 + 20 * sin(2 * Double.pi * 3 * time)
        phase += 2 * Double.pi * pitch / Double(sampleRate)
        let formant = 700 + 400 * sin(2 * Double.pi * 1.5 * time)
        var sample = 0.0
        for harmonic in 1...20 {
            let frequency = pitch * Double(harmonic)
            let weight = exp(-pow((frequency - formant) / 500, 2)) + 0.1 / Double(harmonic)
            sample += weight * sin(Double(harmonic) * phase)
        }
        let envelope = 0.6 + 0.4 * sin(2 * Double.pi * 4 * time)
        return Int16(max(-32_000, min(32_000, 6_000 * envelope * sample)))
    }
}

private func meanSquaredError(_ a: [Int16], _ b: [Int16]) -> Double {
    zip(a, b).reduce(0) { $0 + pow(Double($1.0) - Double($1.1), 2) } / Double(max(1, min(a.count, b.count)))
}

private func energy(_ samples: [Int16]) -> Double {
    samples.reduce(0) { $0 + Double($1) * Double($1) } / Double(max(1, samples.count))
}

@Suite struct AudioJitterBufferTests {
    /// A path delay of 30 ms plus up to 2 ms of jitter, seeded.
    static func steadyDelay(seed: UInt64) -> (Int) -> Duration {
        var random = SeededGenerator(seed: seed)
        let jitter = (0..<10_000).map { _ in Int.random(in: 0...2_000, using: &random) }
        return { .milliseconds(30) + .microseconds(jitter[$0 % jitter.count]) }
    }

    @Test func inOrderStreamPlaysEveryFrameOnePacketApart() {
        var simulation = StreamSimulation()
        let delay = Self.steadyDelay(seed: 1)
        simulation.send(0..<200, delay: delay)
        simulation.run()

        #expect(simulation.decodedSequences == (0..<200).map { 1_000 + UInt16($0) })
        #expect(simulation.played.count == 200)
        let counters = simulation.buffer.counters
        #expect(counters.played == 200 && counters.late == 0 && counters.concealed == 0 && counters.fecRecovered == 0)
        // The first packet plays as it arrives; the depth then settles near one packet.
        #expect(simulation.played[0].at == StreamSimulation.start + delay(0))
        #expect(simulation.played[1].at == StreamSimulation.start + .milliseconds(20) + delay(0) + .milliseconds(20))
        let depth = simulation.buffer.depth
        #expect(depth >= .milliseconds(20) && depth <= .milliseconds(23), "\(depth)")
        let spacing = zip(simulation.played.dropFirst(100), simulation.played.dropFirst(101)).map { $1.at - $0.at }
        #expect(spacing.allSatisfy { $0 > .milliseconds(19) && $0 < .milliseconds(21) })
        #expect(simulation.buffer.nextDeadline() == nil)
    }

    @Test func reorderedPacketsWithinTheDepthPlayInOrder() {
        var simulation = StreamSimulation(buffer: AudioJitterBuffer(minimumDepth: .milliseconds(60), initialDepth: .milliseconds(60)))
        var random = SeededGenerator(seed: 3550)
        // In order for 10 packets, then each group of three arrives in a random order, the
        // latest up to 40 ms after it was due.
        var order: [Int] = Array(0..<10)
        for group in stride(from: 10, to: 100, by: 3) {
            order += Array(group..<min(group + 3, 100)).shuffled(using: &random)
        }
        let arrivalSlot = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        simulation.send(0..<100) { index in
            .milliseconds(30 + 20 * (arrivalSlot[index]! - index))
        }
        #expect(order != order.sorted())
        simulation.run()

        #expect(simulation.decodedSequences == (0..<100).map { 1_000 + UInt16($0) })
        #expect(simulation.buffer.counters.late == 0)
        #expect(simulation.buffer.counters.concealed == 0)
    }

    @Test func latePacketIsCountedAndNotPlayedAndItsSlotComesFromFEC() {
        var simulation = StreamSimulation()
        let steady = Self.steadyDelay(seed: 2)
        // Packet 51 comes as fast as any: in time for packet 50's slot.
        simulation.send(0..<100) { $0 == 50 ? .milliseconds(300) : $0 == 51 ? .milliseconds(30) : steady($0) }
        simulation.run()

        #expect(simulation.buffer.counters.late == 1)
        #expect(!simulation.decodedSequences.contains(1_050))
        #expect(simulation.decodedSequences.count == 99)
        let slot = simulation.played.firstIndex { if case .decodeFEC = $0.playout { true } else { false } }
        #expect(slot == 50)
        if let slot, case .decodeFEC(let next, let duration) = simulation.played[slot].playout {
            #expect(next.sequenceNumber == 1_051 && duration == 960)
        }
        #expect(simulation.buffer.counters.fecRecovered == 1)
        #expect(simulation.buffer.counters.concealed == 0)
    }

    @Test func longerGapsAreConcealedAndTheLastLostPacketComesFromFEC() {
        var simulation = StreamSimulation()
        let steady = Self.steadyDelay(seed: 4)
        simulation.send(0..<100, skipping: [40, 41, 42]) { $0 == 43 ? .milliseconds(30) : steady($0) }
        simulation.run()

        let around = simulation.played[39...43].map(\.playout)
        #expect(around[0] == .decode(StreamSimulation.packet(1_039, timestamp: 90_000 + 39 * 960)))
        #expect(around[1] == .conceal(duration: 960))
        #expect(around[2] == .conceal(duration: 960))
        #expect(around[3] == .decodeFEC(next: StreamSimulation.packet(1_043, timestamp: 90_000 + 43 * 960), duration: 960))
        #expect(around[4] == .decode(StreamSimulation.packet(1_043, timestamp: 90_000 + 43 * 960)))
        #expect(simulation.buffer.counters.concealed == 2 && simulation.buffer.counters.fecRecovered == 1)
        #expect(simulation.decodedSequences.count == 97)
    }

    @Test func concealmentStopsAfterALongGapAndPlayoutResumesOnTime() {
        var simulation = StreamSimulation()
        let steady = Self.steadyDelay(seed: 5)
        simulation.send(0..<100, skipping: Set(40..<50)) { $0 == 50 ? .milliseconds(30) : steady($0) }
        simulation.run()

        let counters = simulation.buffer.counters
        #expect(counters.concealed == UInt64(AudioJitterBuffer.maximumConcealedRun))
        #expect(counters.fecRecovered == 1)
        #expect(simulation.decodedSequences == (0..<100).filter { !(40..<50).contains($0) }.map { 1_000 + UInt16($0) })
        // After the pause, packet 50 plays one packet after the FEC frame, as packet 0 did.
        let resumed = simulation.played.first { if case .decode(let audio) = $0.playout { audio.sequenceNumber == 1_050 } else { false } }
        let recovered = simulation.played.first { if case .decodeFEC = $0.playout { true } else { false } }
        #expect(resumed.map { $0.at - recovered!.at } == .milliseconds(20))
    }

    @Test func stoppedStreamGoesIdleWithoutConcealing() {
        var simulation = StreamSimulation()
        simulation.send(0..<20, delay: Self.steadyDelay(seed: 6))
        simulation.run(idling: true)
        #expect(simulation.buffer.nextDeadline() == nil)
        #expect(simulation.played.count == 20)
        #expect(simulation.buffer.counters.concealed == 0)
    }

    @Test func stalledPathLosesNothingAndItsDelayDeepensTheBufferForAWhile() {
        var simulation = StreamSimulation()
        let steady = Self.steadyDelay(seed: 7)
        // The path stalls for 250 ms from packet 50 on: packets 50 to 62 all arrive together
        // when it clears; the stream goes on as before afterwards.
        let release: Duration = .milliseconds(1_000 + 30 + 250)
        let held = 50..<63
        simulation.send(0..<400) { index in
            held.contains(index) ? release - .milliseconds(index * 20) : steady(index)
        }
        simulation.run(until: StreamSimulation.start + release)
        let afterStall = simulation.buffer.depth
        simulation.run()

        #expect(simulation.decodedSequences == (0..<400).map { 1_000 + UInt16($0) })
        let counters = simulation.buffer.counters
        #expect(counters.late == 0 && counters.concealed == 0 && counters.fecRecovered == 0)
        // The overdue packets play as soon as they come; the rest at the deepened buffer's pace.
        let stalled = simulation.played.filter {
            if case .decode(let audio) = $0.playout { held.contains(Int(audio.sequenceNumber) - 1_000) } else { false }
        }
        #expect(stalled.count == held.count && stalled.first?.at == StreamSimulation.start + release)
        #expect(afterStall == .milliseconds(120), "\(afterStall)")
        #expect(simulation.buffer.depth <= .milliseconds(23), "\(simulation.buffer.depth)")
    }

    @Test func depthGrowsUnderJitterAndShrinksBackWithinBounds() {
        var random = SeededGenerator(seed: 8)
        let jitter = (0..<1_500).map { index -> Int in
            switch index {
            case 0..<300: Int.random(in: 0...1, using: &random)
            case 300..<700: Int.random(in: 0...60, using: &random)
            case 700..<1_000: Int.random(in: 0...400, using: &random)
            default: Int.random(in: 0...1, using: &random)
            }
        }
        var simulation = StreamSimulation()
        simulation.send(0..<1_500) { .milliseconds(30 + jitter[$0]) }

        simulation.run(until: StreamSimulation.start + .milliseconds(300 * 20))
        let calm = simulation.buffer.depth
        simulation.run(until: StreamSimulation.start + .milliseconds(700 * 20))
        let jittery = simulation.buffer.depth
        let lateUnderModerateJitter = simulation.buffer.counters.late
        simulation.run(until: StreamSimulation.start + .milliseconds(1_000 * 20))
        let extreme = simulation.buffer.depth
        simulation.run()
        let calmAgain = simulation.buffer.depth

        #expect(calm <= .milliseconds(22), "\(calm)")
        #expect(jittery >= .milliseconds(70) && jittery <= .milliseconds(100), "\(jittery)")
        #expect(lateUnderModerateJitter < 40, "\(lateUnderModerateJitter) late of 400")
        #expect(extreme == .milliseconds(120))
        #expect(calmAgain <= .milliseconds(22), "\(calmAgain)")
        #expect(simulation.depths.allSatisfy { $0 >= .milliseconds(20) && $0 <= .milliseconds(120) })
    }

    @Test func sequenceNumbersAndTimestampsWrapAround() {
        var simulation = StreamSimulation(buffer: AudioJitterBuffer(minimumDepth: .milliseconds(40)))
        let firstTimestamp = UInt32.max - 30 * 960 + 1
        // Packets 33 and 34 (sequence numbers 65535 and 0) swap places on the way.
        simulation.send(0..<100, firstSequence: 65_502, firstTimestamp: firstTimestamp) { index in
            .milliseconds(index == 33 ? 55 : 30)
        }
        simulation.run()

        #expect(simulation.decodedSequences == (0..<100).map { 65_502 &+ UInt16($0) })
        #expect(simulation.decodedSequences.contains(65_535) && simulation.decodedSequences.contains(0))
        let counters = simulation.buffer.counters
        #expect(counters.late == 0 && counters.sequenceJump == 0 && counters.resynchronizations == 0)
        #expect(counters.concealed == 0 && counters.fecRecovered == 0)
    }

    @Test func duplicatesAreDroppedWhetherBufferedOrPlayed() {
        var buffer = AudioJitterBuffer()
        let start = StreamSimulation.start
        buffer.insert(StreamSimulation.packet(7, timestamp: 960), now: start)
        buffer.insert(StreamSimulation.packet(7, timestamp: 960), now: start + .milliseconds(1))
        #expect(buffer.poll(now: start + .milliseconds(40)) == .decode(StreamSimulation.packet(7, timestamp: 960)))
        buffer.insert(StreamSimulation.packet(7, timestamp: 960), now: start + .milliseconds(41))
        #expect(buffer.counters.duplicate == 2 && buffer.counters.late == 0 && buffer.bufferedPackets == 0)
    }

    @Test func newSSRCAndConfirmedSequenceJumpRestartTheStream() {
        var buffer = AudioJitterBuffer()
        let start = StreamSimulation.start
        buffer.insert(StreamSimulation.packet(10, timestamp: 0), now: start)
        buffer.insert(StreamSimulation.packet(11, timestamp: 960), now: start + .milliseconds(20))
        // RFC 3550 A.1: one packet far ahead is dropped; a second in sequence after it restarts.
        buffer.insert(StreamSimulation.packet(20_000, timestamp: 1_920), now: start + .milliseconds(21))
        #expect(buffer.counters.sequenceJump == 1 && buffer.bufferedPackets == 2)
        buffer.insert(StreamSimulation.packet(20_001, timestamp: 2_880), now: start + .milliseconds(22))
        #expect(buffer.counters.resynchronizations == 1 && buffer.counters.flushed == 2)
        #expect(buffer.poll(now: start + .milliseconds(100)) == .decode(StreamSimulation.packet(20_001, timestamp: 2_880)))

        buffer.insert(StreamSimulation.packet(500, timestamp: 7, ssrc: 0xBEEF), now: start + .milliseconds(101))
        #expect(buffer.counters.resynchronizations == 2)
        #expect(buffer.poll(now: start + .milliseconds(200)) == .decode(StreamSimulation.packet(500, timestamp: 7, ssrc: 0xBEEF)))
    }

    @Test func hostilePacketsKeepMemoryBoundedAndAStreamRecoversAfterwards() {
        var buffer = AudioJitterBuffer()
        var random = SeededGenerator(seed: 0xBAD)
        var now = StreamSimulation.start
        var highWater = 0
        let ssrc: UInt32 = 0x5EED
        func deliver(_ audio: PeerConnection.ReceivedAudio) {
            buffer.insert(audio, now: now)
            highWater = max(highWater, buffer.bufferedPackets)
            while buffer.poll(now: now) != nil {}
        }
        // Noise: any sequence number, timestamp and SSRC.
        for _ in 0..<10_000 {
            now = now + .microseconds(Int.random(in: 0...3_000, using: &random))
            deliver(PeerConnection.ReceivedAudio(
                sequenceNumber: UInt16.random(in: 0...UInt16.max, using: &random),
                rtpTimestamp: UInt32.random(in: 0...UInt32.max, using: &random),
                ssrc: Bool.random(using: &random) ? ssrc : UInt32.random(in: 0...3, using: &random),
                payload: [UInt8.random(in: 0...255, using: &random)]))
        }
        #expect(highWater <= AudioJitterBuffer.capacity)
        // A flood of ever higher sequence numbers on a believable clock, far faster than a
        // stream's packets.
        for index in 0..<5_000 {
            now = now + .microseconds(Int.random(in: 0...100, using: &random))
            let sequence = 1_100 &+ UInt16(index)
            let clock = (now - StreamSimulation.start).nanosecondsRounded * 48 / 1_000_000
            deliver(PeerConnection.ReceivedAudio(
                sequenceNumber: sequence, rtpTimestamp: UInt32(truncatingIfNeeded: clock), ssrc: ssrc,
                payload: [UInt8(sequence >> 8), UInt8(sequence & 0xFF)]))
        }
        #expect(highWater == AudioJitterBuffer.capacity)
        #expect(buffer.counters.overflow > 0)

        // A real stream afterwards plays, after the two packets RFC 3550 A.1 needs to confirm
        // its sequence numbers.
        var simulation = StreamSimulation(buffer: buffer)
        let base = now - StreamSimulation.start + .milliseconds(100)
        simulation.send(0..<100, firstSequence: 40_000, firstTimestamp: 77) { _ in base }
        simulation.run()
        #expect(Array(simulation.decodedSequences.suffix(99)) == (1..<100).map { 40_000 + UInt16($0) })
        #expect(simulation.buffer.bufferedPackets == 0)
    }

    // MARK: Decoding

    @Test func lostPacketIsRebuiltFromTheNextPacketsFECCloserThanConcealment() throws {
        let encoder = try OpusEncoder(sampleRate: 48_000, channels: 1)
        let signal = voice(sampleRate: 48_000, count: 960 * 60)
        let packets = try (0..<60).map { try encoder.encode(Array(signal[$0 * 960..<($0 + 1) * 960])) }
        let lost = 40

        // What the lost frame decodes to when it is not lost, and what concealment makes of it.
        let reference = try OpusDecoder(sampleRate: 24_000, channels: 1)
        let concealing = try OpusDecoder(sampleRate: 24_000, channels: 1)
        var expected: [Int16] = []
        var concealed: [Int16] = []
        for index in 0..<60 {
            let frame = try reference.decode(packets[index])
            if index == lost { expected = frame }
            concealed = index == lost ? try concealing.decodeMissing(frameSize: 480) : try concealing.decode(packets[index])
            if index == lost { break }
        }

        let receiver = try AudioReceiver()
        let steady = Self.steadyDelay(seed: 9)
        let delay = { (index: Int) in index == lost + 1 ? Duration.milliseconds(30) : steady(index) }
        var frames: [[Int16]] = []
        var arrivals = (0..<60).filter { $0 != lost }.map { index in
            (at: StreamSimulation.start + .milliseconds(index * 20) + delay(index),
             audio: PeerConnection.ReceivedAudio(
                sequenceNumber: UInt16(index), rtpTimestamp: UInt32(index * 960), ssrc: 1, payload: packets[index]))
        }[...]
        while let deadline = receiver.nextDeadline().earliest(arrivals.first?.at) {
            if let arrival = arrivals.first, arrival.at <= deadline {
                receiver.insert(arrival.audio, now: arrival.at)
                arrivals.removeFirst()
            }
            while let frame = receiver.pollFrame(now: deadline) { frames.append(frame) }
            if arrivals.isEmpty, receiver.buffer.bufferedPackets == 0 { break }
        }

        #expect(receiver.counters.fecRecovered == 1 && receiver.counters.concealed == 0)
        #expect(frames.count == 60 && frames.allSatisfy { $0.count == 480 })
        let recovered = frames[lost]
        let fecError = meanSquaredError(recovered, expected)
        let concealmentError = meanSquaredError(concealed, expected)
        #expect(fecError < concealmentError / 2, "FEC \(fecError) vs PLC \(concealmentError), signal \(energy(expected))")
        #expect(fecError < energy(expected) / 4, "FEC \(fecError), signal \(energy(expected))")
    }

    @Test func fortyMillisecondPacketsYieldTwoFramesEachAndAreConcealedWhole() throws {
        let encoder = try OpusEncoder(sampleRate: 48_000, channels: 1)
        let signal = voice(sampleRate: 48_000, count: 1_920 * 30)
        let packets = try (0..<30).map { try encoder.encode(Array(signal[$0 * 1_920..<($0 + 1) * 1_920])) }

        let receiver = try AudioReceiver()
        var frames: [[Int16]] = []
        var now = StreamSimulation.start
        for index in 0..<30 {
            now = StreamSimulation.start + .milliseconds(index * 40)
            if index != 10, index != 20, index != 21 {
                receiver.insert(PeerConnection.ReceivedAudio(
                    sequenceNumber: UInt16(index), rtpTimestamp: UInt32(index * 1_920), ssrc: 1, payload: packets[index]), now: now)
            }
            while let deadline = receiver.nextDeadline(), deadline <= now {
                while let frame = receiver.pollFrame(now: deadline) { frames.append(frame) }
            }
        }
        while let deadline = receiver.nextDeadline(), receiver.buffer.bufferedPackets > 0 {
            while let frame = receiver.pollFrame(now: deadline) { frames.append(frame) }
        }

        #expect(receiver.buffer.packetDuration == 1_920)
        #expect(receiver.counters.fecRecovered == 2 && receiver.counters.concealed == 1)
        #expect(frames.count == 60 && frames.allSatisfy { $0.count == 480 })
        #expect(receiver.decodeFailures == 0)
    }

    @Test func undecodablePacketIsConcealedAndCounted() throws {
        let receiver = try AudioReceiver()
        let start = StreamSimulation.start
        let encoder = try OpusEncoder(sampleRate: 48_000, channels: 1)
        let good = try encoder.encode(voice(sampleRate: 48_000, count: 960))
        receiver.insert(.init(sequenceNumber: 1, rtpTimestamp: 0, ssrc: 1, payload: good), now: start)
        receiver.insert(.init(sequenceNumber: 2, rtpTimestamp: 960, ssrc: 1, payload: [0x03, 0x00]), now: start + .milliseconds(20))
        var frames: [[Int16]] = []
        while let deadline = receiver.nextDeadline(), deadline < start + .milliseconds(100), receiver.counters.played < 2 {
            while let frame = receiver.pollFrame(now: deadline) { frames.append(frame) }
        }
        #expect(receiver.decodeFailures == 1)
        #expect(frames.count == 2 && frames.allSatisfy { $0.count == 480 })
    }
}
