// Package vrrp implements the Virtual Router Redundancy Protocol for IPv4
// as xvs directors speak it to each other and to keepalived: VRRPv2
// (RFC 3768) and VRRPv3 (RFC 5798, RFC 9568).
//
// It has three parts, none of which does any I/O:
//
//   - Wire format. Packet is a zero-copy view of a VRRP message;
//     Advert is the decoded form with Marshal, Append and Parse; ParseIPv4
//     and ParseFrame validate a received datagram layer by layer and
//     return one exported sentinel error per reason for dropping it, so
//     the caller can count drops by reason. AppendAdvertFrame and
//     AppendGARPFrame build whole Ethernet frames for an AF_XDP socket.
//   - The protocol state machine (RFC 5798 §6), Machine. It is a step
//     function: the caller feeds it Events (startup, received
//     advertisements, timer expiry, faults) stamped with the current time,
//     and it returns the Actions to carry out (send an advertisement, add
//     or remove the virtual addresses, send gratuitous ARPs) and the time
//     by which it wants to be called again (NextDeadline). It never reads
//     the clock, sleeps or starts goroutines, so it is tested with a fake
//     clock, and replaying the same events gives the same actions.
//     Group makes several Machines move together as keepalived's
//     vrrp_sync_group does. GARPSchedule says when gratuitous ARPs are due
//     after a router becomes master.
//   - Timer arithmetic (SkewTime, MasterDownInterval) exactly as the RFCs
//     define it.
//
// A typical caller owns one goroutine per interface that reads VRRP frames
// from the control queue, parses them with ParseFrame, steps the Machine
// with EventAdvert, steps it with EventTimer whenever NextDeadline has
// passed, and executes the actions in order. Machine and Group are not
// safe for concurrent use: that one goroutine owns them.
//
// This package is not a keepalived.conf reader (package config is), does
// not add addresses to interfaces or open sockets (the control plane does),
// and does not implement IPv6 VRRPv3 or IPsec AH authentication (keepalived's
// auth_type AH). The simple text password of VRRPv2 (keepalived's
// auth_type PASS) is supported for interoperability; it is not security.
package vrrp
