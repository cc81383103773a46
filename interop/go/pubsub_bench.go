package main

// The pubsub bench mode of the pubsub role (benchmarks/suites/pubsub_mesh.py):
//
//	pubsub-bench-start TOPIC                 count and time messages of TOPIC instead of printing them
//	pubsub-bench-publish TOPIC COUNT SIZE RATE
//	                                         publish COUNT messages of SIZE bytes at RATE per second (0: as
//	                                         fast as Publish returns); each payload starts with the wall clock
//	                                         (u64 big-endian ns) so receivers on this machine time it
//	pubsub-bench-stats TOPIC [latencies]     received count, first/last arrival (ns), and with any second
//	                                         argument the latencies (µs) since pubsub-bench-start
//
// The same commands are in the js program (js/pubsub.mjs) and in the suite's own Python node.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
)

const benchHeader = 8

type benchCounter struct {
	mu          sync.Mutex
	received    int
	firstNs     int64
	lastNs      int64
	latenciesUs []int64
}

var benchTopics sync.Map // topic -> *benchCounter

// benchRecord counts m when its topic is in bench mode (then it is not printed).
func benchRecord(m *pubsub.Message) bool {
	v, ok := benchTopics.Load(m.GetTopic())
	if !ok {
		return false
	}
	now := time.Now().UnixNano()
	c := v.(*benchCounter)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received++
	if c.firstNs == 0 {
		c.firstNs = now
	}
	c.lastNs = now
	if len(m.Data) >= benchHeader {
		sent := int64(binary.BigEndian.Uint64(m.Data[:benchHeader]))
		c.latenciesUs = append(c.latenciesUs, (now-sent)/1000)
	}
	return true
}

func benchArgInt(args []string, i int) (int, error) {
	if len(args) <= i {
		return 0, errors.New("missing argument")
	}
	return strconv.Atoi(args[i])
}

func (r *pubsubRole) benchCommand(ctx context.Context, cmd string, name string, args []string) (obj, error) {
	switch cmd {
	case "pubsub-bench-start":
		benchTopics.Store(name, &benchCounter{})
		return obj{{"topic", name}}, nil
	case "pubsub-bench-stats":
		v, ok := benchTopics.Load(name)
		if !ok {
			return nil, fmt.Errorf("no pubsub-bench-start for %s", name)
		}
		c := v.(*benchCounter)
		c.mu.Lock()
		defer c.mu.Unlock()
		out := obj{{"topic", name}, {"received", c.received}, {"first_ns", c.firstNs}, {"last_ns", c.lastNs}}
		if len(args) > 1 {
			out = append(out, kv{"latencies_us", append([]int64{}, c.latenciesUs...)})
		}
		return out, nil
	case "pubsub-bench-publish":
		count, err := benchArgInt(args, 1)
		if err != nil {
			return nil, err
		}
		size, err := benchArgInt(args, 2)
		if err != nil {
			return nil, err
		}
		rate, err := strconv.ParseFloat(argOr(args, 3, "0"), 64)
		if err != nil {
			return nil, err
		}
		if size < benchHeader+4 {
			size = benchHeader + 4
		}
		r.mu.Lock()
		j, ok := r.topics[name]
		r.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("not subscribed to %s", name)
		}
		start := time.Now()
		for i := 0; i < count; i++ {
			if rate > 0 {
				due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
			}
			data := make([]byte, size)
			binary.BigEndian.PutUint32(data[benchHeader:], uint32(i))
			binary.BigEndian.PutUint64(data, uint64(time.Now().UnixNano()))
			if err := j.topic.Publish(ctx, data); err != nil {
				return nil, err
			}
		}
		return obj{{"topic", name}, {"published", count}, {"seconds", time.Since(start).Seconds()}}, nil
	}
	return nil, errors.New("unknown command")
}

func argOr(args []string, i int, def string) string {
	if len(args) > i {
		return args[i]
	}
	return def
}
