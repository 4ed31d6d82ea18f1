package contender

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/swarm-go/swarm/bench/workload"
	"github.com/swarm-go/swarm/broker/kafka"
)

// kfakeEnv, set in the environment, turns this program into the kfake
// cluster the Kafka contenders talk to (see startKfake).
const kfakeEnv = "SWARMBENCH_KFAKE"

// kafkaPartitions is the partition count of every benchmark topic: swarm's
// default.
const kafkaPartitions = 3

func init() {
	if os.Getenv(kfakeEnv) != "" {
		serveKfake() // never returns
	}
	k := &kfakeProc{}
	register(func(int) Broker {
		return Broker{
			Name: "kafka", Order: 30,
			Raw: KafkaRaw(k.addr), Swarm: KafkaSwarm(k.addr), Watermill: KafkaWatermill(k.addr),
			Setup: k.start,
		}
	})
}

// kfakeProc is a kfake cluster in a child process (this program again,
// with kfakeEnv set): in-process, the fake's own work and allocations would
// count against the contenders in the CPU profile and allocs/msg.
type kfakeProc struct {
	mu   sync.Mutex
	seed string
}

func (k *kfakeProc) addr() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.seed
}

// start runs the child and reads the address it listens on from its first
// line of output. Closing its standard input stops it.
func (k *kfakeProc) start() (func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("kfake: find this program to run it as the cluster: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), kfakeEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kfake: start %s: %w", self, err)
	}
	stop := func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case addr := <-line:
		if addr == "" {
			stop()
			return nil, fmt.Errorf("kfake: the cluster process ended without an address")
		}
		k.mu.Lock()
		k.seed = addr
		k.mu.Unlock()
		return stop, nil
	case <-time.After(30 * time.Second):
		stop()
		return nil, fmt.Errorf("kfake: no address from the cluster process within 30s")
	}
}

// serveKfake runs a one-broker kfake cluster, prints its address and runs
// until its standard input closes (the parent released it or died).
func serveKfake() {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Println(c.ListenAddrs()[0])
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	c.Close()
	os.Exit(0)
}

// createTopic creates a benchmark topic with kafkaPartitions partitions.
func createTopic(seed, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, kafkaPartitions, -1, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %q on %s: %w", topic, seed, err)
	}
	return nil
}

// KafkaRaw is franz-go used as its docs recommend: asynchronous Produce of
// every record, then one Flush; a group consumer polling whole fetches,
// marking records once handled and committing the marks (in the background
// and once at the end).
func KafkaRaw(seed func() string) workload.Factory {
	return func(topic string) (workload.Contender, error) {
		if err := createTopic(seed(), topic); err != nil {
			return nil, err
		}
		prod, err := kgo.NewClient(kgo.SeedBrokers(seed()), kgo.DefaultProduceTopic(topic))
		if err != nil {
			return nil, err
		}
		cons, err := kgo.NewClient(kgo.SeedBrokers(seed()),
			kgo.ConsumerGroup(topic+"-raw"), kgo.ConsumeTopics(topic), kgo.AutoCommitMarks())
		if err != nil {
			prod.Close()
			return nil, err
		}
		return &kafkaRaw{prod: prod, cons: cons, topic: topic}, nil
	}
}

type kafkaRaw struct {
	prod, cons *kgo.Client
	topic      string
}

func (r *kafkaRaw) Publish(ctx context.Context, n int, msg func(int) workload.Payload) error {
	var mu sync.Mutex
	var first error
	for i := range n {
		r.prod.Produce(ctx, &kgo.Record{Value: workload.Encode(msg(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		})
	}
	if err := r.prod.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if first != nil {
		return fmt.Errorf("produce to %q: %w", r.topic, first)
	}
	return nil
}

func (r *kafkaRaw) Consume(ctx context.Context, n int, got func(workload.Payload)) error {
	for seen := 0; seen < n; {
		fs := r.cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = cmp.Or(ferr, err) })
		if ferr != nil {
			return fmt.Errorf("fetch %q: %w", r.topic, ferr)
		}
		var derr error
		fs.EachRecord(func(rec *kgo.Record) {
			p, err := workload.Decode(rec.Value)
			if err != nil {
				derr = cmp.Or(derr, err)
				return
			}
			got(p)
			seen++
		})
		if derr != nil {
			return derr
		}
		r.cons.MarkCommitRecords(fs.Records()...)
	}
	return r.cons.CommitMarkedOffsets(ctx)
}

func (r *kafkaRaw) Close() error {
	r.cons.Close()
	r.prod.Close()
	return nil
}

// KafkaSwarm is swarm's Kafka broker with its defaults, in a group of its
// own per topic.
func KafkaSwarm(seed func() string) workload.Factory {
	return func(topic string) (workload.Contender, error) {
		q, err := kafka.New(topic, kafka.WithBrokers(seed()), kafka.WithGroup(topic+"-swarm"))
		if err != nil {
			return nil, err
		}
		return NewSwarm(q), nil
	}
}

// KafkaWatermill is watermill-kafka (Sarama) with its default configs, the
// subscriber in a consumer group reading from the oldest offset (its
// default is the newest, which would skip what was published first).
func KafkaWatermill(seed func() string) workload.Factory {
	return func(topic string) (workload.Contender, error) {
		if err := createTopic(seed(), topic); err != nil {
			return nil, err
		}
		pub, err := wmkafka.NewPublisher(wmkafka.PublisherConfig{
			Brokers: []string{seed()}, Marshaler: wmkafka.DefaultMarshaler{},
		}, watermill.NopLogger{})
		if err != nil {
			return nil, err
		}
		cfg := wmkafka.DefaultSaramaSubscriberConfig()
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		sub, err := wmkafka.NewSubscriber(wmkafka.SubscriberConfig{
			Brokers: []string{seed()}, Unmarshaler: wmkafka.DefaultMarshaler{},
			ConsumerGroup: topic + "-watermill", OverwriteSaramaConfig: cfg,
		}, watermill.NopLogger{})
		if err != nil {
			_ = pub.Close()
			return nil, err
		}
		return &Watermill{pub: pub, sub: sub, topic: topic}, nil
	}
}
