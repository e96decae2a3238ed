package control

// VRRPCounters returns the VRRP adverts sent and received (received counts
// those used by an instance) since start, and the received adverts that
// were not used, by reason (every reason present, zero or not). Without
// any vrrp_instance it returns zeros and a nil map. It is safe to call
// while the director runs.
func (d *Director) VRRPCounters() (sent, received uint64, drops map[string]uint64) {
	if d.vrrp == nil {
		return 0, 0, nil
	}
	return d.vrrp.sent.Load(), d.vrrp.received.Load(), d.vrrp.Drops()
}
