package connsync_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/xvs-project/xvs/connsync"
)

func ExampleBuilder() {
	b := connsync.NewBuilder(5, connsync.DefaultMaxLen)
	send := func(msg []byte) error {
		fmt.Printf("send %d bytes\n", len(msg)) // a UDP write in real use
		return nil
	}
	e := connsync.Entry{
		Protocol: connsync.ProtoTCP,
		Flags:    connsync.FlagMasq,
		State:    connsync.TCPStateEstablished,
		CPort:    50000, VPort: 80, DPort: 8080,
		Timeout: 900,
		CAddr:   netip.MustParseAddr("198.18.0.10"),
		VAddr:   netip.MustParseAddr("198.18.1.1"),
		DAddr:   netip.MustParseAddr("198.19.0.20"),
	}
	for i := range 50 {
		e.CPort = uint16(50000 + i)
		if err := b.AddFlush(&e, send); err != nil {
			fmt.Println(err)
		}
	}
	_ = b.Flush(send) // also when a timer says so
	// Output:
	// send 1448 bytes
	// send 368 bytes
}

func ExampleDecode() {
	b := connsync.NewBuilder(5, connsync.DefaultMaxLen)
	_ = b.Add(&connsync.Entry{
		Protocol: connsync.ProtoUDP,
		Flags:    connsync.FlagTemplate | connsync.FlagDRoute,
		VPort:    53, DPort: 53,
		Timeout: 300,
		CAddr:   netip.MustParseAddr("2001:2::"),
		VAddr:   netip.MustParseAddr("2001:2::1:1"),
		DAddr:   netip.MustParseAddr("2001:2::2:14"),
	})
	datagram := b.Bytes()

	var drops = map[string]int{}
	m, err := connsync.Decode(datagram, func(e connsync.Entry) {
		fmt.Println(e.CAddr, e.VAddr, e.VPort, "->", e.DAddr, e.DPort, e.Flags&connsync.FlagTemplate != 0)
	})
	if err != nil {
		drops[connsync.Reason(err)]++
	}
	fmt.Println("syncid", m.SyncID, "entries", m.NrConns)

	_, err = connsync.Decode(datagram[:len(datagram)-1], nil)
	fmt.Println(errors.Is(err, connsync.ErrBadSize), connsync.Reason(err))
	// Output:
	// 2001:2:: 2001:2::1:1 53 -> 2001:2::2:14 53 true
	// syncid 5 entries 1
	// true bad_size
}
