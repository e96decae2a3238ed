package dataplane

// The XDP classifier is compiled from bpf/xvs.c by bpf2go; the generated
// xvs_bpfel.go/.o and xvs_bpfeb.go/.o are committed, so building xvs needs no
// clang. `make generate` runs this line (it needs clang, llvm and libbpf-dev).
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -tags linux -target bpfel,bpfeb -type svc_key -type owned_addr xvs bpf/xvs.c -- -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
