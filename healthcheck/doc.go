// Package healthcheck runs keepalived's real-server health checks and turns
// their results into the pool a virtual service should have.
//
// It has three layers, each usable on its own:
//
//   - Checkers. One type per keepalived checker, all behind the Checker
//     interface: TCPChecker (TCP_CHECK), HTTPChecker (HTTP_GET and
//     SSL_GET), MiscChecker (MISC_CHECK), UDPChecker (UDP_CHECK),
//     PingChecker (PING_CHECK), DNSChecker (DNS_CHECK) and SMTPChecker
//     (SMTP_CHECK). Each is built from a plain configuration struct
//     (TCPConfig, HTTPConfig, …) whose fields are keepalived's keywords;
//     Config.NewChecker validates it and returns the live checker. A
//     check is one attempt: it returns a Result and never retries.
//
//   - Scheduling. Policy holds the keywords that say when checks run and
//     when failures count (delay_loop, retry, delay_before_retry, warmup,
//     alpha). Policy.Step is the pure state machine that turns one Result
//     into the next State and the delay to the next check. A Runner
//     schedules many checks over an injected Clock, spreads their first
//     runs over the warmup window, bounds how many run at once, and
//     reports each change of a check's state (up/down, dynamic weight)
//     to one callback, in order.
//
//   - Pools. A Pool follows the check states of the real servers of one
//     virtual service and computes, deterministically, the Desired pool:
//     which servers are in and at what weight, and whether the sorry
//     server serves instead (quorum, hysteresis, inhibit_on_failure,
//     sorry_server, omega). Hooks stand in for notify_up, notify_down,
//     quorum_up and quorum_down.
//
// A ServiceSpec ties the three together for one virtual service: the
// configuration layer fills it, ServiceSpec.Jobs gives the Runner its
// jobs, and NewPool gives the Pool that consumes the Runner's changes.
//
// The package does not parse keepalived.conf (package config does), does
// not program the data path (the control package feeds Desired pools to
// the schedulers) and does not decide VRRP state; ha_suspend is exposed as
// Runner.Suspend for whoever knows whether the virtual address is local.
//
// Checks only talk to the addresses they are configured with. Scripts are
// executed directly from their argument vector, never through a shell.
package healthcheck
