package nat

// Drop is the reason a frame was not forwarded; DropNone means it was.
type Drop uint8

// Reasons for dropping a frame. Every frame that is not forwarded is counted
// under exactly one of them.
const (
	DropNone          Drop = iota // forwarded
	DropTruncated                 // shorter than its headers say
	DropNotIPv4                   // not an IPv4 frame
	DropBadIPHeader               // version not 4, IHL < 5 or total length inconsistent
	DropIPOptions                 // IPv4 header with options
	DropFragment                  // an IPv4 fragment
	DropBadIPChecksum             // IPv4 header checksum wrong
	DropBadL4Checksum             // TCP or UDP checksum wrong
	DropBadL4Header               // TCP data offset or UDP length inconsistent
	DropProtocol                  // neither TCP nor UDP
	DropTTLExceeded               // TTL of 1 or 0: it may not be forwarded
	DropNoService                 // no virtual service for the destination
	DropNoConnection              // TCP without SYN, or a reply, for an unknown flow
	DropNoRealServer              // the scheduler found no real server that can take it
	DropTableFull                 // the connection table is at its limit
	DropNoNeighbour               // next hop's link-layer address not known (yet)
	DropTxFull                    // every transmit frame is in flight
	DropTooBig                    // larger than a transmit frame
	NumDrops                      // number of drop reasons, for counter arrays
)

var dropNames = [NumDrops]string{
	DropNone:          "forwarded",
	DropTruncated:     "truncated",
	DropNotIPv4:       "not_ipv4",
	DropBadIPHeader:   "bad_ip_header",
	DropIPOptions:     "ip_options",
	DropFragment:      "fragment",
	DropBadIPChecksum: "bad_ip_checksum",
	DropBadL4Checksum: "bad_l4_checksum",
	DropBadL4Header:   "bad_l4_header",
	DropProtocol:      "protocol",
	DropTTLExceeded:   "ttl_exceeded",
	DropNoService:     "no_service",
	DropNoConnection:  "no_connection",
	DropNoRealServer:  "no_real_server",
	DropTableFull:     "table_full",
	DropNoNeighbour:   "no_neighbour",
	DropTxFull:        "tx_full",
	DropTooBig:        "too_big",
}

// String returns the reason's name as used in metrics and listings.
func (d Drop) String() string {
	if d < NumDrops {
		return dropNames[d]
	}
	return "unknown"
}
