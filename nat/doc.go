// Package nat is the LVS-NAT core of xvs: the connection table, the TCP and
// UDP connection states with their timeouts, and the DNAT and SNAT rewrites of
// frames, done in place with incremental checksum updates.
//
// A client's frame to a virtual service (VIP:port) is rewritten by Inbound to
// the real server the scheduler picked for its flow; the real server's reply is
// rewritten back to VIP:port by Outbound. One connection entry serves both
// directions, which may arrive on different workers: the table is split into
// shards by a hash of the client's address and port, which both directions
// carry, and each shard has its own lock, held for the lookup and state update
// of one frame. Entries are pointer-free values, so the garbage collector never
// walks them.
//
// For connection synchronisation between directors (IPVS's sync daemon),
// an engine with Engine.SetSync on reports in Inbound's Result when a
// frame calls for a sync record, by IPVS's rules (SyncPolicy), with the
// connection copied into the Result for the worker to queue (SyncQueue);
// a backup applies received records with Table.InstallSynced. The wire
// format is package connsync's, which nat does not import.
//
// It is not for moving frames (package dataplane), for choosing link-layer
// addresses (dataplane's neighbour cache), or for scheduling policy (package
// scheduler). Nothing in it logs or allocates per frame.
package nat
