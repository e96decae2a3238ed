package vrrp

import "time"

// SkewTime returns Skew_Time for a router of the given priority: the part
// of Master_Down_Interval that makes the backup with the highest priority
// time out first.
//
// For VRRPv2 it is (256 - priority) / 256 seconds (RFC 3768 §6.1). For
// VRRPv3 it is ((256 - priority) * masterAdverInt) / 256, where
// masterAdverInt is Master_Adver_Interval, the interval the current master
// advertises (RFC 5798 §6.1). masterAdverInt is ignored for version 2.
// The result is truncated to the nanosecond.
func SkewTime(version int, priority uint8, masterAdverInt time.Duration) time.Duration {
	return skew(version, 256-int64(priority), masterAdverInt)
}

// skew computes Skew_Time with 256-priority given as n; keepalived's
// "minimal skew" is n = 1.
func skew(version int, n int64, masterAdverInt time.Duration) time.Duration {
	if version == 2 {
		return time.Duration(n) * time.Second / 256
	}
	return time.Duration(n) * masterAdverInt / 256
}

// MasterDownInterval returns Master_Down_Interval, the time after which a
// backup that has heard no advertisement declares the master down:
// 3 * Advertisement_Interval + Skew_Time for VRRPv2 (RFC 3768 §6.1), and
// 3 * Master_Adver_Interval + Skew_Time for VRRPv3 (RFC 5798 §6.1). For
// version 2, masterAdverInt is the configured Advertisement_Interval,
// which every router of the virtual router must share.
func MasterDownInterval(version int, priority uint8, masterAdverInt time.Duration) time.Duration {
	return masterDown(version, 3, priority, masterAdverInt)
}

// masterDown is MasterDownInterval with keepalived's down_timer_adverts
// as the multiplier.
func masterDown(version, adverts int, priority uint8, masterAdverInt time.Duration) time.Duration {
	return time.Duration(adverts)*masterAdverInt + SkewTime(version, priority, masterAdverInt)
}
