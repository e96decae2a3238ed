// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// xvs XDP classifier. It runs on the director's WAN and LAN interfaces and
// sends to the AF_XDP socket of the arriving queue only the frames xvs owns:
//
//   WAN: IPv4 to a configured virtual service (VIP, port, protocol);
//   LAN: IPv4 from a configured real server (address, port, protocol),
//        unless sent to one of the director's own addresses (the replies
//        to its health checks, which are the kernel's);
//   both: VRRP (IP protocol 112), for the control queue;
//   ICMP errors about those flows (see icmp_error).
//
// Frames addressed to a VIP (WAN) or sent by a real server's address (LAN)
// that cannot be classified because their IPv4 header is malformed, carries
// a fragment, or is cut short before the ports, are sent to the socket as
// well, so that user space counts them by reason before dropping them.
// Everything else (ARP, SSH to the director, routing protocols, IPv6 for
// now) goes on to the kernel with XDP_PASS.
//
// Owned addresses. The VIPs of VRRP instances this director is MASTER for
// are in the owned map, with the interface they are owned on and its MAC.
// The kernel never holds them: this program turns ARP requests and ICMP
// echo requests for them into the answers, in place, and sends those to the
// AF_XDP socket, whose worker transmits them back out of the same
// interface. So the answers stop the moment xvs stops or dies (the bpf_link
// goes with the process) and clients follow the new master instead of a
// box that no longer serves. (XDP_TX would save the trip through user
// space, but on a veth it reaches the peer only when the peer has NAPI
// enabled, which the lab showed it does not by default.) Frames the
// workers receive that are ARP, or ICMP echo replies, are such answers.
//
// The maps are written by the control plane only; the program never writes
// to them except the per-CPU counters.

//go:build ignore

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ROLE_WAN 1
#define ROLE_LAN 2

// XSK_LAN_BASE is added to the queue index to form the xsks key of a LAN
// queue; WAN queue q uses key q. Keep in sync with dataplane/xdp.go.
#define XSK_LAN_BASE 128
#define XSK_MAX 256

#define IPPROTO_VRRP_ 112

// From linux/if_arp.h, which pulls in libc headers a BPF build lacks.
#define ARPHRD_ETHER_ 1
#define ARPOP_REQUEST_ 1
#define ARPOP_REPLY_ 2

// Counter indices; keep in sync with dataplane/xdp.go.
enum {
	CNT_PASS = 0,
	CNT_REDIRECT,
	CNT_REDIRECT_MALFORMED,
	CNT_REDIRECT_VRRP,
	CNT_ARP_REPLY,
	CNT_ECHO_REPLY,
	CNT_NO_SOCKET,
	CNT_MAX,
};

// svc_key identifies a virtual service (WAN: destination) or a real server
// (LAN: source). addr and port are in network byte order.
struct svc_key {
	__u32 addr;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);   // ingress ifindex
	__type(value, __u32); // ROLE_*
} ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct svc_key);
	__type(value, __u32);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); // VIP, network byte order
	__type(value, __u32);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct svc_key);
	__type(value, __u32);
} reals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); // real server address, network byte order
	__type(value, __u32);
} real_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); // the director's own addresses, network byte order
	__type(value, __u32);
} locals SEC(".maps");

// owned_addr is where an owned VIP is answered for: the interface and the
// MAC the answers come from.
struct owned_addr {
	__u32 ifindex;
	__u8 mac[ETH_ALEN];
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); // owned VIP, network byte order
	__type(value, struct owned_addr);
} owned SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XSK_MAX);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline int count(__u32 idx, int verdict)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		*c += 1;
	return verdict;
}

static __always_inline int to_socket(struct xdp_md *ctx, __u32 role, __u32 cnt)
{
	__u32 key = ctx->rx_queue_index;
	if (key >= XSK_LAN_BASE)
		return count(CNT_NO_SOCKET, XDP_DROP);
	if (role == ROLE_LAN)
		key += XSK_LAN_BASE;
	// A frame xvs owns on a queue with no socket (a channel added by
	// ethtool -L that the dataplane has not opened yet) is dropped and
	// counted: the kernel holds no VIP and must not route a real
	// server's un-NATed reply, so passing it on would only hide the loss.
	if (!bpf_map_lookup_elem(&xsks, &key))
		return count(CNT_NO_SOCKET, XDP_DROP);
	count(cnt, 0);
	return bpf_redirect_map(&xsks, key, XDP_DROP);
}

// arp_packet is an Ethernet/IPv4 ARP packet after the Ethernet header.
struct arp_packet {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__u8 spa[4];
	__u8 tha[ETH_ALEN];
	__u8 tpa[4];
} __attribute__((packed));

// arp_reply turns an ARP request for an owned VIP, arriving on the
// interface the VIP is owned on, into the reply and sends it back out.
// Gratuitous ARPs (sender address = target address) and everything else go
// to the kernel.
static __always_inline int arp_reply(struct xdp_md *ctx, struct ethhdr *eth, void *data_end, __u32 ifindex, __u32 role)
{
	struct arp_packet *arp = (void *)(eth + 1);
	if ((void *)(arp + 1) > data_end)
		return count(CNT_PASS, XDP_PASS);
	if (arp->htype != bpf_htons(ARPHRD_ETHER_) || arp->ptype != bpf_htons(ETH_P_IP) ||
	    arp->hlen != ETH_ALEN || arp->plen != 4 || arp->op != bpf_htons(ARPOP_REQUEST_))
		return count(CNT_PASS, XDP_PASS);
	__u32 tpa, spa;
	__builtin_memcpy(&tpa, arp->tpa, 4);
	__builtin_memcpy(&spa, arp->spa, 4);
	if (tpa == spa)
		return count(CNT_PASS, XDP_PASS);
	struct owned_addr *o = bpf_map_lookup_elem(&owned, &tpa);
	if (!o || o->ifindex != ifindex)
		return count(CNT_PASS, XDP_PASS);
	arp->op = bpf_htons(ARPOP_REPLY_);
	__builtin_memcpy(arp->tha, arp->sha, ETH_ALEN);
	__builtin_memcpy(arp->tpa, &spa, 4);
	__builtin_memcpy(arp->sha, o->mac, ETH_ALEN);
	__builtin_memcpy(arp->spa, &tpa, 4);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, o->mac, ETH_ALEN);
	return to_socket(ctx, role, CNT_ARP_REPLY);
}

// csum_add adds a 16-bit quantity to a ones' complement checksum field.
static __always_inline __u16 csum_add(__u16 csum, __u16 add)
{
	__u32 s = (__u32)csum + add;
	return (__u16)((s & 0xffff) + (s >> 16));
}

// echo_reply answers an ICMP echo request to an owned VIP in place: the
// addresses are swapped, the type becomes echo reply and the TTL 64, with
// both checksums updated incrementally (RFC 1624).
static __always_inline int echo_reply(struct xdp_md *ctx, struct ethhdr *eth, struct iphdr *ip, void *data_end, __u32 ifindex, __u32 role)
{
	__u32 dst = ip->daddr;
	struct owned_addr *o = bpf_map_lookup_elem(&owned, &dst);
	if (!o || o->ifindex != ifindex)
		return -1;
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return count(CNT_PASS, XDP_PASS);
	__u8 *icmp = (void *)(ip + 1);
	if ((void *)(icmp + 4) > data_end || icmp[0] != 8 || icmp[1] != 0)
		return -1;
	// Type 8 -> 0: the first word drops by 0x0800, the checksum (the
	// complement of the sum) grows by it.
	icmp[0] = 0;
	__u16 *ic = (void *)(icmp + 2);
	*ic = csum_add(*ic, bpf_htons(0x0800));
	// TTL: the checksum covers the (TTL, protocol) word.
	__u16 oldw = bpf_ntohs(*(__u16 *)&ip->ttl);
	ip->ttl = 64;
	__u16 neww = bpf_ntohs(*(__u16 *)&ip->ttl);
	ip->check = csum_add(csum_add(ip->check, bpf_htons(oldw)), bpf_htons((__u16)~neww));
	ip->daddr = ip->saddr;
	ip->saddr = dst;
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, o->mac, ETH_ALEN);
	return to_socket(ctx, role, CNT_ECHO_REPLY);
}

// icmp_error sends to user space the ICMP errors (destination unreachable,
// time exceeded) that concern a flow xvs forwards: on WAN those addressed to
// a VIP quoting a packet from a virtual service's port, on LAN those quoting
// a packet to a real server's port that did not come from the director
// itself (its own health checks and connections keep their ICMP errors).
// ICMP echo and everything else goes to the kernel.
static __always_inline int icmp_error(struct xdp_md *ctx, struct iphdr *ip, void *data_end, __u32 role)
{
	if (ip->ihl != 5)
		return count(CNT_PASS, XDP_PASS);
	__u8 *icmp = (void *)(ip + 1);
	if ((void *)(icmp + 8 + sizeof(struct iphdr)) > data_end)
		return count(CNT_PASS, XDP_PASS);
	if (icmp[0] != 3 && icmp[0] != 11)
		return count(CNT_PASS, XDP_PASS);
	struct iphdr *inner = (void *)(icmp + 8);
	if (inner->ihl != 5)
		return count(CNT_PASS, XDP_PASS);
	__u16 *ports = (void *)(inner + 1);
	if ((void *)(ports + 2) > data_end)
		return count(CNT_PASS, XDP_PASS);
	struct svc_key key = {.proto = inner->protocol};
	if (role == ROLE_WAN) {
		// Quoted: VIP:vport -> client.
		key.addr = inner->saddr;
		key.port = ports[0];
		if (!bpf_map_lookup_elem(&services, &key))
			return count(CNT_PASS, XDP_PASS);
	} else {
		// Quoted: client -> real:rport; not the director's own packet.
		__u32 src = inner->saddr;
		if (bpf_map_lookup_elem(&locals, &src))
			return count(CNT_PASS, XDP_PASS);
		key.addr = inner->daddr;
		key.port = ports[1];
		if (!bpf_map_lookup_elem(&reals, &key))
			return count(CNT_PASS, XDP_PASS);
	}
	return to_socket(ctx, role, CNT_REDIRECT);
}

SEC("xdp")
int xvs_classify(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 ifindex = ctx->ingress_ifindex;

	__u32 *role = bpf_map_lookup_elem(&ifaces, &ifindex);
	if (!role)
		return count(CNT_PASS, XDP_PASS);

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return count(CNT_PASS, XDP_PASS);
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return arp_reply(ctx, eth, data_end, ifindex, *role);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return count(CNT_PASS, XDP_PASS);

	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return count(CNT_PASS, XDP_PASS);

	if (ip->protocol == IPPROTO_VRRP_)
		return to_socket(ctx, *role, CNT_REDIRECT_VRRP);
	if (ip->protocol == IPPROTO_ICMP) {
		int v = echo_reply(ctx, eth, ip, data_end, ifindex, *role);
		if (v >= 0)
			return v;
		return icmp_error(ctx, ip, data_end, *role);
	}
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return count(CNT_PASS, XDP_PASS);

	// The address this frame is classified by: the destination on WAN
	// (a VIP), the source on LAN (a real server).
	__u32 addr = *role == ROLE_WAN ? ip->daddr : ip->saddr;
	if (*role == ROLE_WAN) {
		if (!bpf_map_lookup_elem(&vips, &addr))
			return count(CNT_PASS, XDP_PASS);
	} else {
		if (!bpf_map_lookup_elem(&real_addrs, &addr))
			return count(CNT_PASS, XDP_PASS);
		// Sent to the director itself, not to a client: a reply to its
		// own connection (a health check), which is the kernel's.
		__u32 dst = ip->daddr;
		if (bpf_map_lookup_elem(&locals, &dst))
			return count(CNT_PASS, XDP_PASS);
	}

	// Ours by address. Malformed or fragmented frames go to user space,
	// which counts and drops them.
	__u32 ihl = ip->ihl;
	if (ip->version != 4 || ihl < 5)
		return to_socket(ctx, *role, CNT_REDIRECT_MALFORMED);
	if (ip->frag_off & bpf_htons(0x3fff))
		return to_socket(ctx, *role, CNT_REDIRECT_MALFORMED);

	__u16 *ports = (void *)ip + (ihl & 0xf) * 4;
	if ((void *)(ports + 2) > data_end)
		return to_socket(ctx, *role, CNT_REDIRECT_MALFORMED);

	struct svc_key key = {
		.addr = addr,
		.port = *role == ROLE_WAN ? ports[1] : ports[0],
		.proto = ip->protocol,
	};
	if (*role == ROLE_WAN) {
		if (!bpf_map_lookup_elem(&services, &key))
			return count(CNT_PASS, XDP_PASS);
	} else {
		if (!bpf_map_lookup_elem(&reals, &key))
			return count(CNT_PASS, XDP_PASS);
	}
	return to_socket(ctx, *role, CNT_REDIRECT);
}

char _license[] SEC("license") = "Dual BSD/GPL";
