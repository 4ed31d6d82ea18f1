package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/swarm-go/swarm/bench/workload"
	"github.com/swarm-go/swarm/broker/memory"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// memoryBound pushes n messages through the memory broker (default options)
// to a consumer that starts late and then handles one message per
// 'every' with a pause, and reports the peak resident set size: it stays
// bounded because the queue and the in-flight window are.
func memoryBound(n int) error {
	q, err := memory.New(fmt.Sprintf("rss-%d", os.Getpid()))
	if err != nil {
		return err
	}
	defer q.Close()
	enq, _ := emit.Typed[workload.Payload](q)
	deq, ack := listen.Typed[workload.Payload](q)
	start := time.Now()
	go func() {
		for i := range n {
			enq <- workload.Make(i, 100)
		}
	}()
	time.Sleep(2 * time.Second) // the consumer is late: the producer runs ahead
	for i := range n {
		m := <-deq
		if i%10_000 == 0 {
			time.Sleep(5 * time.Millisecond) // and slow
		}
		ack <- m
	}
	hwm, err := status("VmHWM")
	if err != nil {
		return err
	}
	fmt.Printf("memory bound: %d messages through the memory broker with a late, slow consumer in %v; peak RSS %s\n",
		n, time.Since(start).Round(time.Millisecond), hwm)
	return nil
}

// status reads a field of /proc/self/status.
func status(field string) (string, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s not in /proc/self/status", field)
}
