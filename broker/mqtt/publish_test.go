package mqtt_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/mqtt"
	"github.com/swarm-go/swarm/emit"
)

// dropServer is a minimal MQTT v5 server: it accepts every connection (no
// session present) and, on the first one only, drops the connection when
// the first PUBLISH arrives, without a PUBACK. Later connections PUBACK.
type dropServer struct {
	ln        net.Listener
	conns     atomic.Int32
	publishes atomic.Int32
	wg        sync.WaitGroup
}

func startDropServer(t *testing.T) *dropServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dropServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				s.serve(c, s.conns.Add(1) == 1)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); s.wg.Wait() })
	return s
}

func (s *dropServer) serve(c net.Conn, drop bool) {
	for {
		p, err := packets.ReadPacket(c)
		if err != nil {
			return
		}
		var reply *packets.ControlPacket
		switch pk := p.Content.(type) {
		case *packets.Connect:
			reply = packets.NewControlPacket(packets.CONNACK)
		case *packets.Pingreq:
			reply = packets.NewControlPacket(packets.PINGRESP)
		case *packets.Publish:
			s.publishes.Add(1)
			if drop {
				return // the connection drops with the message unacknowledged
			}
			reply = packets.NewControlPacket(packets.PUBACK)
			reply.Content.(*packets.Puback).PacketID = pk.PacketID
		case *packets.Disconnect:
			return
		}
		if reply != nil {
			if _, err := reply.WriteTo(c); err != nil {
				return
			}
		}
	}
}

// TestPublishFailsWhenTheConnectionDrops: a publish whose connection drops
// before the PUBACK fails at once, and the kernel sends it again on the next
// connection, instead of the emitter waiting out the whole publish timeout
// (paho neither resends nor completes it: the publishing connection keeps no
// session).
func TestPublishFailsWhenTheConnectionDrops(t *testing.T) {
	srv := startDropServer(t)
	q, err := mqtt.NewEmitter("drop-test",
		mqtt.WithServers("mqtt://"+srv.ln.Addr().String()),
		mqtt.WithTimeout(time.Minute),
		mqtt.WithKernel(swarm.WithRetry(swarm.ConstantBackoff(50*time.Millisecond, 100))))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	if err := emit.NewTyped[int](q).Enq(ctx, 1); err != nil {
		t.Fatalf("Enq across a dropped connection = %v after %v (publish timeout 1m)", err, time.Since(start).Round(time.Millisecond))
	}
	if n := srv.publishes.Load(); n < 2 {
		t.Errorf("the server got %d PUBLISH, want the dropped one and its resend", n)
	}
	t.Logf("sent across a dropped connection in %v (%d connections)", time.Since(start).Round(time.Millisecond), srv.conns.Load())
}
