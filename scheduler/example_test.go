package scheduler_test

import (
	"fmt"
	"strings"

	"github.com/xvs-project/xvs/scheduler"
)

func ExampleNew() {
	names := []string{"web-a", "web-b", "web-c", "web-d"}
	pool := []scheduler.Server{
		{Weight: 4},
		{Weight: 3},
		{Weight: 2},
		{Weight: 0}, // quiesced: drains, gets no new connections
	}
	s, err := scheduler.New("wrr", pool)
	if err != nil {
		fmt.Println(err)
		return
	}
	var picked []string
	for range 9 { // one whole cycle: 4+3+2 picks
		picked = append(picked, names[s.Pick(scheduler.Hint{})])
	}
	fmt.Println(strings.Join(picked, " "))

	_, err = scheduler.New("wlc", pool)
	fmt.Println(err)
	// Output:
	// web-a web-a web-b web-a web-b web-c web-a web-b web-c
	// scheduler "wlc": unknown scheduler
}
