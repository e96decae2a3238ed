//go:build linux

package bench

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/xvs-project/xvs/lab"
)

// xdpMode returns the attach mode of the XDP program on interface ifName
// in namespace ns: native, generic, offload or none.
func xdpMode(ns, ifName string) (string, error) {
	mode := "none"
	err := lab.Do(ns, func() error {
		lk, err := netlink.LinkByName(ifName)
		if err != nil {
			return fmt.Errorf("interface %s in %s: %w", ifName, ns, err)
		}
		x := lk.Attrs().Xdp
		if x == nil || !x.Attached {
			return nil
		}
		switch x.AttachMode {
		case nl.XDP_ATTACHED_DRV:
			mode = "native"
		case nl.XDP_ATTACHED_SKB:
			mode = "generic"
		case nl.XDP_ATTACHED_HW:
			mode = "offload"
		default:
			mode = "attached"
		}
		return nil
	})
	return mode, err
}

// metricLabels parses the labels of a metric key as the exposition writes
// it: name{a="x",b="y"}. It returns the name and the labels.
func metricLabels(key string) (string, map[string]string) {
	name, rest, ok := strings.Cut(key, "{")
	if !ok {
		return key, nil
	}
	rest = strings.TrimSuffix(rest, "}")
	labels := map[string]string{}
	for rest != "" {
		k, after, ok := strings.Cut(rest, "=\"")
		if !ok {
			break
		}
		var v strings.Builder
		i := 0
		for ; i < len(after); i++ {
			if after[i] == '\\' && i+1 < len(after) {
				i++
				v.WriteByte(after[i])
				continue
			}
			if after[i] == '"' {
				break
			}
			v.WriteByte(after[i])
		}
		labels[strings.TrimSpace(k)] = v.String()
		rest = strings.TrimPrefix(after[min(i+1, len(after)):], ",")
	}
	return name, labels
}

// xvsPlacement reads xvs's worker placement and socket modes (each
// distinct one, joined with " / ") from its xvs_queue_info series: "worker 0 on CPU 1: queues 0,1", as the ceiling's
// Placement writes it (the queues are those of wan0; xvs serves the same
// indices on lan0).
func xvsPlacement(m map[string]float64) (workers []string, sockets string) {
	type w struct {
		cpu    string
		queues []int
	}
	ws := map[int]*w{}
	modes := map[string]bool{}
	for k := range m {
		name, l := metricLabels(k)
		if name != "xvs_queue_info" || l["side"] != "wan" {
			continue
		}
		id, err := strconv.Atoi(l["worker"])
		if err != nil {
			continue
		}
		q, err := strconv.Atoi(l["queue"])
		if err != nil {
			continue
		}
		if ws[id] == nil {
			ws[id] = &w{cpu: l["cpu"]}
		}
		ws[id].queues = append(ws[id].queues, q)
		if l["socket_mode"] != "" {
			modes[l["socket_mode"]] = true
		}
	}
	ids := make([]int, 0, len(ws))
	for id := range ws {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		x := ws[id]
		slices.Sort(x.queues)
		qs := make([]string, len(x.queues))
		for i, q := range x.queues {
			qs[i] = strconv.Itoa(q)
		}
		workers = append(workers, fmt.Sprintf("worker %d on CPU %s: queues %s", id, x.cpu, strings.Join(qs, ",")))
	}
	var ms []string
	for mo := range modes {
		ms = append(ms, mo)
	}
	sort.Strings(ms)
	return workers, strings.Join(ms, " / ")
}
