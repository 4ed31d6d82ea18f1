package contender

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmredis "github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	goredis "github.com/redis/go-redis/v9"

	"github.com/swarm-go/swarm/bench/workload"
	"github.com/swarm-go/swarm/broker/redis"
)

// redisAddr is the Redis server the tests use too.
const redisAddr = "127.0.0.1:6379"

func init() {
	register(func(int) Broker {
		return Broker{
			Name: "redis", Order: 10,
			Raw: RedisRaw(redisAddr), Swarm: RedisSwarm(redisAddr), Watermill: RedisWatermill(redisAddr),
			Setup: func() (func(), error) { return requireTCP("Redis", redisAddr) },
		}
	})
}

// redisBatch is how many commands the raw contender pipelines per round
// trip, and the COUNT of its reads: the batch swarm's driver uses too.
const redisBatch = 256

// redisBlock is how long one raw XREADGROUP waits for new entries.
const redisBlock = 250 * time.Millisecond

// RedisRaw is go-redis used as its docs recommend for streams: XADDs
// pipelined redisBatch at a time, XREADGROUP with COUNT, and the XACK of a
// batch pipelined with the read of the next one.
func RedisRaw(addr string) workload.Factory {
	return func(stream string) (workload.Contender, error) {
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		r := &redisRaw{c: c, stream: stream, group: "raw"}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.XGroupCreateMkStream(ctx, stream, r.group, "0").Err(); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("redis raw: create group on stream %q at %s: %w", stream, addr, err)
		}
		return withCleanup(r, func() { dropRedisKeys(addr, stream) }), nil
	}
}

type redisRaw struct {
	c             *goredis.Client
	stream, group string
}

func (r *redisRaw) Publish(ctx context.Context, n int, msg func(int) workload.Payload) error {
	for start := 0; start < n; start += redisBatch {
		p := r.c.Pipeline()
		for i := start; i < min(start+redisBatch, n); i++ {
			p.XAdd(ctx, &goredis.XAddArgs{Stream: r.stream, Values: []any{"payload", workload.Encode(msg(i))}})
		}
		if _, err := p.Exec(ctx); err != nil {
			return fmt.Errorf("XADD pipeline to %q: %w", r.stream, err)
		}
	}
	return nil
}

func (r *redisRaw) Consume(ctx context.Context, n int, got func(workload.Payload)) error {
	acks := make([]string, 0, redisBatch)
	for seen := 0; seen < n; {
		p := r.c.Pipeline()
		if len(acks) > 0 {
			p.XAck(ctx, r.stream, r.group, acks...)
		}
		read := p.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: r.group, Consumer: "bench", Streams: []string{r.stream, ">"},
			Count: redisBatch, Block: redisBlock,
		})
		if _, err := p.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
			return fmt.Errorf("XACK+XREADGROUP on %q: %w", r.stream, err)
		}
		acks = acks[:0]
		res, err := read.Result()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			return fmt.Errorf("XREADGROUP on %q: %w", r.stream, err)
		}
		for _, s := range res {
			for _, m := range s.Messages {
				body, _ := m.Values["payload"].(string)
				pl, err := workload.Decode([]byte(body))
				if err != nil {
					return err
				}
				got(pl)
				acks = append(acks, m.ID)
				seen++
			}
		}
	}
	if len(acks) > 0 {
		return r.c.XAck(ctx, r.stream, r.group, acks...).Err()
	}
	return nil
}

func (r *redisRaw) Close() error { return r.c.Close() }

// RedisSwarm is swarm's Redis Streams broker with its defaults.
func RedisSwarm(addr string) workload.Factory {
	return func(stream string) (workload.Contender, error) {
		q, err := redis.New(stream, redis.WithAddr(addr))
		if err != nil {
			return nil, err
		}
		return withCleanup(NewSwarm(q), func() { dropRedisKeys(addr, stream, stream+".dlq") }), nil
	}
}

// RedisWatermill is watermill-redisstream in a consumer group, with a
// client each for the publisher and the subscriber (each closes its own).
func RedisWatermill(addr string) workload.Factory {
	return func(stream string) (workload.Contender, error) {
		pub, err := wmredis.NewPublisher(wmredis.PublisherConfig{
			Client: goredis.NewClient(&goredis.Options{Addr: addr}),
		}, watermill.NopLogger{})
		if err != nil {
			return nil, err
		}
		sub, err := wmredis.NewSubscriber(wmredis.SubscriberConfig{
			Client:        goredis.NewClient(&goredis.Options{Addr: addr}),
			ConsumerGroup: "watermill",
			Consumer:      "bench",
		}, watermill.NopLogger{})
		if err != nil {
			_ = pub.Close()
			return nil, err
		}
		return withCleanup(&Watermill{pub: pub, sub: sub, topic: stream}, func() { dropRedisKeys(addr, stream) }), nil
	}
}

// dropRedisKeys deletes what a run left on the server, best effort: a
// failure only leaves a stream behind.
func dropRedisKeys(addr string, keys ...string) {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Del(ctx, keys...).Err(); err != nil {
		fmt.Printf("redis: could not delete %s: %v\n", strings.Join(keys, ", "), err)
	}
}
