@testable import ParleyTransceiver
import ParleyWire
import Testing

/// Pins where shards listen, what their tokens and answers name, and how many there are by
/// default.
@Suite struct ShardConfigurationTests {
    @Test func shardsTakeConsecutivePortsUnlessListedOrEphemeral() {
        var configuration = TransceiverConfiguration(udpAddress: PeerAddress("10.0.0.5:4000")!, shards: 3)
        #expect(configuration.shardUDPAddresses.map(\.description) == ["10.0.0.5:4000", "10.0.0.5:4001", "10.0.0.5:4002"])
        configuration.udpAddress = PeerAddress("127.0.0.1:0")!
        #expect(configuration.shardUDPAddresses.map(\.port) == [0, 0, 0])
        configuration.udpAddresses = [PeerAddress("10.0.0.5:5000")!, PeerAddress("10.0.0.6:5000")!]
        #expect(configuration.shardUDPAddresses.map(\.description) == ["10.0.0.5:5000", "10.0.0.6:5000"])
    }

    @Test func tokensNameEachShardsOwnSocketAndAnswersTheRelay() {
        let bound = PeerAddress("10.0.0.5:41234")!
        var configuration = TransceiverConfiguration(udpAddress: PeerAddress("10.0.0.5:0")!, shards: 2)
        #expect(configuration.tokenAddress(forShard: 1, boundAt: bound) == bound)
        #expect(configuration.candidates(forShardBoundAt: bound) == [bound])
        configuration.routingAddress = PeerAddress("192.0.2.7:7000")!
        configuration.advertisedAddresses = [PeerAddress("198.51.100.1:3478")!]
        #expect(configuration.tokenAddress(forShard: 1, boundAt: bound) == PeerAddress("192.0.2.7:7001")!)
        #expect(configuration.candidates(forShardBoundAt: bound) == [PeerAddress("198.51.100.1:3478")!])
    }

    @Test func cgroupQuotasRoundUpAndTheTightestAncestorWins() {
        #expect(CPUBudget.quota(cpuMax: "max 100000\n") == nil)
        #expect(CPUBudget.quota(cpuMax: "150000 100000\n") == 2)
        #expect(CPUBudget.quota(cpuMax: "50000 100000") == 1)
        #expect(CPUBudget.quota(cfsQuota: "-1\n", cfsPeriod: "100000\n") == nil)
        #expect(CPUBudget.quota(cfsQuota: "400000\n", cfsPeriod: "100000\n") == 4)

        let files = [
            "/sys/fs/cgroup/pod/cpu.max": "300000 100000\n",
            "/sys/fs/cgroup/pod/app/cpu.max": "max 100000\n",
            "/sys/fs/cgroup/cpu.max": "max 100000\n",
        ]
        #expect(CPUBudget.cgroupQuota(membership: "0::/pod/app\n", read: { files[$0] }) == 3)
        let v1 = [
            "/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us": "250000\n",
            "/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us": "100000\n",
        ]
        #expect(CPUBudget.cgroupQuota(membership: "4:memory:/job\n3:cpu,cpuacct:/job\n", read: { v1[$0] }) == 3)
        #expect(CPUBudget.cgroupQuota(membership: "0::/\n", read: { _ in nil }) == nil)
        #expect(CPUBudget.available() >= 1)
    }
}
