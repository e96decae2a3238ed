// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// XDP programs of the xvs lab benchmark (package bench). None of them is
// part of xvs; they make and count the benchmark's traffic and run the
// "ceiling" contender.
//
//   xvsb_gen   the traffic generator, run with BPF_PROG_RUN and
//              BPF_F_TEST_XDP_LIVE_FRAMES on the client's eth0: every frame
//              gets the whole header template written again (frames are
//              recycled, and a forwarding stack may have changed them) and
//              its own UDP source port, then leaves with XDP_TX.
//   xvsb_sink  on each real server's eth0: counts benchmark frames (UDP to
//              the bench port whose payload starts with the bench magic)
//              addressed to this interface's MAC, and drops every benchmark
//              frame so the server's stack spends nothing on them. All
//              other frames pass.
//   xvsb_fwd   the ceiling's classifier on the director's wan0: benchmark
//              frames go to the AF_XDP socket of the arriving queue.
//
// Configuration is in one-entry array maps written before traffic starts.

//go:build ignore

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// FRAME_LEN is the length of a generated frame: Ethernet, IPv4 without
// options, UDP and an 18-byte payload, 64 bytes on the wire with the FCS.
#define FRAME_LEN 60
#define MAGIC_LEN 8
#define XSK_MAX 64

struct gen_conf {
	__u8 frame[64];       // the first FRAME_LEN bytes are the template
	__u32 sport_base;     // first source port (host byte order)
	__u32 flows_per_cpu;  // source ports per CPU, at least 1
	__u32 ncpu;           // CPUs generating, at least 1
	__u32 pad;
};

struct sink_conf {
	__u8 mac[6];          // this interface's MAC
	__u16 port;           // bench UDP port, network byte order
	__u8 magic[MAGIC_LEN];
};

// Sink counter indices.
enum {
	SINK_MINE = 0,    // bench frames to this interface's MAC
	SINK_FOREIGN,     // bench frames to another MAC (a flooding bridge)
	SINK_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_conf);
} gen_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gen_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sink_conf);
} sink_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SINK_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sink_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XSK_MAX);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

SEC("xdp")
int xvsb_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;

	if (data + FRAME_LEN > data_end)
		return XDP_ABORTED;
	struct gen_conf *cfg = bpf_map_lookup_elem(&gen_cfg, &zero);
	__u64 *cnt = bpf_map_lookup_elem(&gen_count, &zero);
	if (!cfg || !cnt)
		return XDP_ABORTED;
	__builtin_memcpy(data, cfg->frame, FRAME_LEN);

	__u32 per = cfg->flows_per_cpu ? cfg->flows_per_cpu : 1;
	__u32 ncpu = cfg->ncpu ? cfg->ncpu : 1;
	__u32 cpu = bpf_get_smp_processor_id() % ncpu;
	__u64 n = *cnt;
	*cnt = n + 1;
	__u32 sport = cfg->sport_base + cpu * per + (__u32)(n % per);

	struct udphdr *udp = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
	udp->source = bpf_htons((__u16)sport);
	return XDP_TX;
}

// bench_frame returns the UDP header of a benchmark frame to port (network
// byte order) whose payload starts with magic, or NULL.
static __always_inline struct udphdr *bench_frame(void *data, void *data_end, __u16 port, const __u8 *magic)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return 0;
	struct udphdr *udp = (void *)(ip + 1);
	__u8 *pl = (void *)(udp + 1);
	if (pl + MAGIC_LEN > (__u8 *)data_end || udp->dest != port)
		return 0;
	for (int i = 0; i < MAGIC_LEN; i++)
		if (pl[i] != magic[i])
			return 0;
	return udp;
}

SEC("xdp")
int xvsb_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;

	struct sink_conf *cfg = bpf_map_lookup_elem(&sink_cfg, &zero);
	if (!cfg)
		return XDP_PASS;
	if (!bench_frame(data, data_end, cfg->port, cfg->magic))
		return XDP_PASS;
	struct ethhdr *eth = data; // bounds checked by bench_frame
	__u32 idx = SINK_MINE;
	for (int i = 0; i < 6; i++)
		if (eth->h_dest[i] != cfg->mac[i])
			idx = SINK_FOREIGN;
	__u64 *c = bpf_map_lookup_elem(&sink_count, &idx);
	if (c)
		*c += 1;
	return XDP_DROP;
}

SEC("xdp")
int xvsb_fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;

	struct sink_conf *cfg = bpf_map_lookup_elem(&sink_cfg, &zero);
	if (!cfg)
		return XDP_PASS;
	if (!bench_frame(data, data_end, cfg->port, cfg->magic))
		return XDP_PASS;
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual BSD/GPL";
