package bench

// The benchmark's XDP programs are compiled from bpf/bench.c by bpf2go; the
// generated bench_bpfel.go/.o and bench_bpfeb.go/.o are committed, so
// building needs no clang. `go generate ./bench/` rebuilds them (it needs
// clang, llvm and libbpf-dev).
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -tags linux -target bpfel,bpfeb -type gen_conf -type sink_conf bench bpf/bench.c -- -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
