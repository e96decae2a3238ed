// Package ipvsadm prints xvs's virtual services, real servers and
// connections exactly as ipvsadm(8) lists an IPVS table, so that operators
// moving from LVS/IPVS and keepalived see the listings, and can keep the
// scripts, that they are used to.
//
// WriteServices mirrors `ipvsadm -L` (list_all in ipvsadm.c) with its
// options -n, --stats, --rate, --thresholds, --persistent-conn, --exact and
// --nosort; WriteService mirrors `ipvsadm -L -t|-u|-f SERVICE`
// (list_service); WriteConns mirrors `ipvsadm -L -c` (list_conn). Column
// widths, header lines, the K/M/G/T abbreviation of large counters, name
// truncation and sort order follow the format strings of ipvsadm 1.31; each
// format in this package names the ipvsadm function it mirrors. The output
// keeps ipvsadm's trailing spaces.
//
// WriteJSON writes the same data as JSON for scripts, with stable
// snake_case field names (see WriteJSON).
//
// Estimator computes the CPS/PPS/BPS rates that --rate shows the way the
// kernel's IPVS estimator does (net/netfilter/ipvs/ip_vs_est.c): a sample of
// the cumulative counters every two seconds, folded into exponentially
// weighted moving averages with weight 1/4, kept in fixed point.
//
// The package is pure: it reads nothing from the system and writes only to
// the io.Writer it is given. Turning addresses and ports into names (what
// ipvsadm does without -n) is left to a Resolver supplied by the caller;
// without one every address and port is printed numerically.
//
// This package is not an ipvsadm command-line parser and does not print
// `ipvsadm -S` rules, `--timeout` or `--daemon` output; it formats data
// that the caller has already collected.
package ipvsadm
